import { setTimeout as delay } from "node:timers/promises";

/**
 * Waits `ms` milliseconds; rejects early when `signal` aborts. Injected into the providers so
 * tests can record the delays asked for without waiting them out.
 */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const abortableSleep: Sleep = async (ms, signal) => {
  await delay(ms, undefined, { signal });
};

/** A source of uniform numbers in [0, 1), injectable so backoff jitter is reproducible in tests. */
export type Random = () => number;
