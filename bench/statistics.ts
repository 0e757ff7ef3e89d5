export interface Distribution {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles; an empty sample gives NaN everywhere but the count. */
export function distribution(values: ArrayLike<number>): Distribution {
  const sorted = Float64Array.from(values).sort();
  const count = sorted.length;
  if (count === 0) return { count, mean: Number.NaN, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, max: Number.NaN };
  const at = (fraction: number): number => sorted[Math.min(count - 1, Math.max(0, Math.ceil(fraction * count) - 1))] ?? Number.NaN;
  let sum = 0;
  for (const value of sorted) sum += value;
  return { count, mean: sum / count, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[count - 1] ?? Number.NaN };
}

/** A growable list of numbers without the overhead of boxed array elements. */
export class NumberSamples {
  #values = new Float64Array(4096);
  #length = 0;

  push(value: number): void {
    if (this.#length === this.#values.length) {
      const larger = new Float64Array(this.#values.length * 2);
      larger.set(this.#values);
      this.#values = larger;
    }
    this.#values[this.#length] = value;
    this.#length += 1;
  }

  get length(): number {
    return this.#length;
  }

  values(): Float64Array {
    return this.#values.subarray(0, this.#length);
  }
}
