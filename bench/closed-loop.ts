import autocannon from "autocannon";
import { distribution, NumberSamples, type Distribution } from "./statistics.ts";

export interface VaryingRequest {
  method: "GET" | "POST";
  path: string;
  body?: string;
}

export interface ClosedLoopOptions {
  /** The server's origin, e.g. http://127.0.0.1:8080. */
  origin: string;
  /**
   * Further servers of the same API to spread the load over, as a load balancer would: each gets
   * an even share of the connections, from an autocannon of its own running at the same time.
   */
  moreOrigins?: readonly string[];
  headers: Record<string, string>;
  /** Called before every request, so each can carry a fresh prompt or another task id. */
  nextRequest: () => VaryingRequest;
  durationSeconds: number;
  connections: number;
}

/** A load without its duration, which the measurement gives each run of it. */
export type ClosedLoopLoad = Omit<ClosedLoopOptions, "durationSeconds">;

export interface ClosedLoopResult {
  /** 2xx answers per second over the run. */
  requestsPerSecond: number;
  /** Of 2xx answers, in milliseconds (sub-millisecond precision, from each response). */
  latency: Distribution;
  /** Every 2xx answer's latency, to merge runs. */
  latencies: Float64Array;
  /** Answers (of any status) in each second of the run, to see a rate that drifts. */
  perSecond: number[];
  okCount: number;
  non2xxCount: number;
  errorCount: number;
  timeoutCount: number;
  durationSeconds: number;
  statusCounts: Record<string, number>;
}

/**
 * autocannon, keep-alive, pipelining 1: each connection sends its next request as soon as the
 * previous one is answered, so throughput is what the server sustains at that concurrency.
 * Spread over several servers, the runs are one run: answers add up, latencies are pooled.
 */
export async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const origins = [options.origin, ...(options.moreOrigins ?? [])];
  if (origins.length === 1) return runAutocannon(options);
  const runs = await Promise.all(
    origins.map((origin, index) =>
      runAutocannon({
        ...options,
        origin,
        connections: evenShare(options.connections, origins.length, index),
      }),
    ),
  );
  const seconds = Math.max(...runs.map((run) => run.perSecond.length));
  return pooledResult(
    runs,
    runs.reduce((sum, run) => sum + run.durationSeconds, 0) / runs.length,
    Array.from({ length: seconds }, (_, second) => runs.reduce((sum, run) => sum + (run.perSecond[second] ?? 0), 0)),
  );
}

/** The `index`th of `parts` even shares of `total`; what does not divide goes to the first shares, one each. */
export function evenShare(total: number, parts: number, index: number): number {
  return Math.floor(total / parts) + (index < total % parts ? 1 : 0);
}

async function runAutocannon(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const latencies = new NumberSamples();
  const perSecond: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.origin,
        connections: options.connections,
        pipelining: 1,
        duration: options.durationSeconds,
        timeout: 30,
        headers: options.headers,
        requests: [{ setupRequest: (request) => ({ ...request, ...options.nextRequest() }) }],
      },
      (error, finished) => {
        if (error === null) resolve(finished);
        else reject(error);
      },
    );
    instance.on("response", (_client, statusCode, _bytes, responseTimeMs) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTimeMs);
    });
    instance.on("tick", (counts) => perSecond.push(counts.counter));
  });
  const statusCounts: Record<string, number> = {};
  for (const [status, stats] of Object.entries(result.statusCodeStats)) statusCounts[status] = stats.count;
  return {
    requestsPerSecond: result["2xx"] / result.duration,
    latency: distribution(latencies.values()),
    latencies: latencies.values(),
    // autocannon ticks once more as it stops, for a second that is not part of the run.
    perSecond: perSecond.slice(0, Math.round(options.durationSeconds)),
    okCount: result["2xx"],
    non2xxCount: result.non2xx,
    errorCount: result.errors,
    timeoutCount: result.timeouts,
    durationSeconds: result.duration,
    statusCounts,
  };
}

/** Runs of one load taken in turns, as one run: answers and seconds add up, latencies are pooled. */
export function mergeClosedLoopResults(runs: readonly ClosedLoopResult[]): ClosedLoopResult {
  return pooledResult(
    runs,
    runs.reduce((sum, run) => sum + run.durationSeconds, 0),
    runs.flatMap((run) => run.perSecond),
  );
}

/** Runs as one run lasting `durationSeconds`: answers add up, latencies are pooled. */
function pooledResult(runs: readonly ClosedLoopResult[], durationSeconds: number, perSecond: number[]): ClosedLoopResult {
  const latencies = new NumberSamples();
  const statusCounts: Record<string, number> = {};
  let okCount = 0;
  let non2xxCount = 0;
  let errorCount = 0;
  let timeoutCount = 0;
  for (const run of runs) {
    for (const value of run.latencies) latencies.push(value);
    for (const [status, count] of Object.entries(run.statusCounts)) statusCounts[status] = (statusCounts[status] ?? 0) + count;
    okCount += run.okCount;
    non2xxCount += run.non2xxCount;
    errorCount += run.errorCount;
    timeoutCount += run.timeoutCount;
  }
  return {
    requestsPerSecond: durationSeconds > 0 ? okCount / durationSeconds : Number.NaN,
    latency: distribution(latencies.values()),
    latencies: latencies.values(),
    perSecond,
    okCount,
    non2xxCount,
    errorCount,
    timeoutCount,
    durationSeconds,
    statusCounts,
  };
}

/** How a closed-loop measurement is split into rounds: 5 (3 with --quick) sharing the measured time. */
export function alternatingRoundPlan(settings: { quick: boolean; measureSeconds: number }): { rounds: number; roundSeconds: number } {
  const rounds = settings.quick ? 3 : 5;
  return { rounds, roundSeconds: Math.max(1, Math.round(settings.measureSeconds / rounds)) };
}

/**
 * Measures several loads in turns, one short run each per round, the order reversed every other
 * round: a machine whose speed drifts (other work on a shared host) slows them all alike, so their
 * ratios keep only what the servers cost. Returns each load's runs, in the order of `loads`.
 */
export async function measureInAlternatingRounds(
  loads: readonly ClosedLoopLoad[],
  plan: { rounds: number; roundSeconds: number },
): Promise<ClosedLoopResult[][]> {
  const runs = loads.map((): ClosedLoopResult[] => []);
  const forward = loads.map((_, index) => index);
  for (let round = 0; round < plan.rounds; round += 1) {
    const order = round % 2 === 0 ? forward : [...forward].reverse();
    for (const index of order) {
      const load = loads[index];
      if (load !== undefined) runs[index]?.push(await runClosedLoop({ ...load, durationSeconds: plan.roundSeconds }));
    }
  }
  return runs;
}
