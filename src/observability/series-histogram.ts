import { Histogram, type Registry } from "prom-client";

/** One label combination's counts: observing into it is a bucket search and three additions. */
export interface HistogramSeries {
  observe(value: number): void;
}

class Series implements HistogramSeries {
  /** Observations per bucket, not yet cumulative; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let bucket = 0;
    while (bucket < this.bounds.length && value > (this.bounds[bucket] ?? Number.POSITIVE_INFINITY)) bucket += 1;
    this.counts[bucket] = (this.counts[bucket] ?? 0) + 1;
    this.sum += value;
    this.count += 1;
  }
}

type Exposition = Awaited<ReturnType<Histogram["get"]>>;

/**
 * A prom-client histogram whose label combinations are looked up once and then kept: prom-client
 * hashes the label object on every observation, which the request path should not pay for.
 */
export class SeriesHistogram<Label extends string> extends Histogram {
  readonly #name: string;
  readonly #help: string;
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, Series>();

  constructor(options: { name: string; help: string; labelNames: readonly Label[]; buckets: readonly number[]; registry: Registry }) {
    super({
      name: options.name,
      help: options.help,
      labelNames: options.labelNames,
      buckets: [...options.buckets],
      registers: [options.registry],
    });
    this.#name = options.name;
    this.#help = options.help;
    this.#bounds = [...options.buckets].sort((left, right) => left - right);
  }

  /** The series of these label values, made once under a key the caller derives from them; the caller keeps it. */
  series(key: string, labels: Readonly<Record<Label, string>>): HistogramSeries {
    let series = this.#series.get(key);
    if (series === undefined) {
      series = new Series(labels, this.#bounds);
      this.#series.set(key, series);
    }
    return series;
  }

  override async get(): Promise<Exposition> {
    return this.getForPromString();
  }

  /** What the registry formats (it prefers this to get()): prom-client's own shape, so the text is the same. */
  async getForPromString(): Promise<Exposition> {
    const values: Exposition["values"] = [];
    const bucketName = `${this.#name}_bucket`;
    for (const series of this.#series.values()) {
      let cumulative = 0;
      for (const [index, bound] of this.#bounds.entries()) {
        cumulative += series.counts[index] ?? 0;
        values.push({ metricName: bucketName, labels: { ...series.labels, le: bound }, value: cumulative });
      }
      values.push({ metricName: bucketName, labels: { ...series.labels, le: "+Inf" }, value: series.count });
      values.push({ metricName: `${this.#name}_sum`, labels: { ...series.labels }, value: series.sum });
      values.push({ metricName: `${this.#name}_count`, labels: { ...series.labels }, value: series.count });
    }
    const exposition = { name: this.#name, help: this.#help, type: "histogram", aggregator: "sum", values };
    // prom-client's declarations type `type` as a numeric enum, though every metric carries its
    // name ("histogram"), which is what the registry writes after # TYPE.
    return exposition as unknown as Exposition;
  }

  override reset(): void {
    super.reset();
    // prom-client's constructor resets before this class's fields exist.
    if (#series in this) this.#series.clear();
  }
}
