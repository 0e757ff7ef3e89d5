import { distribution, NumberSamples, type Distribution } from "./statistics.ts";

export interface OpenLoopOptions {
  ratePerSecond: number;
  durationSeconds: number;
  /** Sends request number `index`; resolves true when it was accepted. */
  send: (index: number) => Promise<boolean>;
}

export interface OpenLoopResult {
  sent: number;
  accepted: number;
  /** Refused answers and transport errors. */
  failed: number;
  /** Of accepted requests, from the moment each was due (so a stalled server cannot hide its queue). */
  latency: Distribution;
  /** How late the scheduler itself sent requests; large values mean the load generator fell behind. */
  schedulerLagMs: Distribution;
  durationSeconds: number;
}

function wait(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Sends at fixed times (request i at start + i / rate), whatever the answers do: an open loop,
 * unlike autocannon's closed one, keeps offering the load while the server is slow.
 */
export async function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const total = Math.round(options.ratePerSecond * options.durationSeconds);
  const intervalMs = 1000 / options.ratePerSecond;
  const latencies = new NumberSamples();
  const lags = new NumberSamples();
  const inFlight: Promise<void>[] = [];
  let accepted = 0;
  let failed = 0;

  const fire = async (index: number, due: number): Promise<void> => {
    try {
      if (await options.send(index)) {
        accepted += 1;
        latencies.push(performance.now() - due);
      } else {
        failed += 1;
      }
    } catch {
      failed += 1;
    }
  };

  const start = performance.now();
  let index = 0;
  while (index < total) {
    const due = start + index * intervalMs;
    const now = performance.now();
    if (due > now + 0.5) {
      await wait(due - now);
      continue;
    }
    lags.push(Math.max(0, now - due));
    inFlight.push(fire(index, due));
    index += 1;
  }
  await Promise.all(inFlight);
  return {
    sent: total,
    accepted,
    failed,
    latency: distribution(latencies.values()),
    schedulerLagMs: distribution(lags.values()),
    durationSeconds: (performance.now() - start) / 1000,
  };
}
