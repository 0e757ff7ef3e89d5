import type { UpstreamCall, UpstreamCallObserver, UpstreamOutcome } from "../metered-image-provider.ts";

/** Latencies kept per upstream for the percentiles: the most recent successful attempts. */
const LATENCY_SAMPLES = 1_024;

export interface UpstreamFigures {
  /** Tasks this upstream produced the image of. */
  tasksServed: number;
  /** Tasks that tried this upstream and did not get their image from it. */
  tasksFailed: number;
  /** Tasks a route passed over because the circuit was open. */
  tasksSkipped: number;
  /** Upstream attempts, retries included. */
  attempts: number;
  /** Attempts by outcome, "success" included. */
  outcomes: Partial<Record<UpstreamOutcome, number>>;
  /** Milliseconds of the successful attempts among the last 1,024; null before the first. */
  latencyMs: { p50: number; p99: number } | null;
  /** Tasks on this upstream now (calling it, or waiting for one of its slots). */
  inFlight: number;
}

/**
 * One upstream's figures since this process started, in memory: what the admin API, the CLI and
 * the metrics show. Attempts arrive through the upstream's meter; tasks through its route.
 */
export class UpstreamStats implements UpstreamCallObserver {
  #tasksServed = 0;
  #tasksFailed = 0;
  #tasksSkipped = 0;
  #attempts = 0;
  readonly #outcomes: Partial<Record<UpstreamOutcome, number>> = {};
  readonly #latencies: number[] = [];
  #next = 0;
  #inFlight = 0;

  upstreamCallEnded(call: UpstreamCall): void {
    this.#attempts += 1;
    this.#outcomes[call.outcome] = (this.#outcomes[call.outcome] ?? 0) + 1;
    if (call.outcome !== "success") return;
    const ms = call.seconds * 1000;
    if (this.#latencies.length < LATENCY_SAMPLES) this.#latencies.push(ms);
    else this.#latencies[this.#next] = ms;
    this.#next = (this.#next + 1) % LATENCY_SAMPLES;
  }

  taskStarted(): void {
    this.#inFlight += 1;
  }

  taskEnded(served: boolean): void {
    this.#inFlight -= 1;
    if (served) this.#tasksServed += 1;
    else this.#tasksFailed += 1;
  }

  taskSkipped(): void {
    this.#tasksSkipped += 1;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  figures(): UpstreamFigures {
    return {
      tasksServed: this.#tasksServed,
      tasksFailed: this.#tasksFailed,
      tasksSkipped: this.#tasksSkipped,
      attempts: this.#attempts,
      outcomes: { ...this.#outcomes },
      latencyMs: this.#latencies.length === 0 ? null : { p50: percentile(this.#latencies, 0.5), p99: percentile(this.#latencies, 0.99) },
      inFlight: this.#inFlight,
    };
  }
}

/** The nearest-rank percentile, rounded to the millisecond. */
function percentile(values: readonly number[], share: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(share * sorted.length) - 1));
  return Math.round(sorted[index] ?? 0);
}

/** Tells every observer of each attempt: the metrics, the figures, the circuit. */
export function teeObservers(...observers: readonly (UpstreamCallObserver | undefined)[]): UpstreamCallObserver {
  const present = observers.filter((observer) => observer !== undefined);
  return {
    upstreamCallEnded(call) {
      for (const observer of present) observer.upstreamCallEnded(call);
    },
  };
}
