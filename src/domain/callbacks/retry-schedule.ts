/**
 * Delays before each retry of a callback, growing from seconds to hours; together they span a
 * little over 24 hours, after which a delivery is given up. Each is jittered by up to ±20% so
 * receivers that come back are not hit by every sender at once.
 */
export const RETRY_DELAYS_MS: readonly number[] = [
  5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000, 36_000_000,
];

/** How long after the first attempt a delivery keeps being retried. */
export const GIVE_UP_AFTER_MS = 24 * 3_600_000;

/** Longest wait a receiver's Retry-After may ask for. */
export const MAX_RETRY_AFTER_MS = 6 * 3_600_000;

/**
 * When to try again after failed attempt number `attempts` (1 for the first), or null to give up:
 * only once 24 hours have passed since the first attempt, however the delays added up.
 * `retryAfterMs` (from a 429 or 503) replaces the schedule's delay, within bounds.
 */
export function nextAttemptAt(options: {
  attempts: number;
  now: number;
  firstAttemptAt: number;
  retryAfterMs: number | null;
  random: () => number;
}): number | null {
  if (options.now - options.firstAttemptAt >= GIVE_UP_AFTER_MS) return null;
  const scheduled = RETRY_DELAYS_MS[Math.min(options.attempts, RETRY_DELAYS_MS.length) - 1] ?? 0;
  const jittered = Math.round(scheduled * (0.8 + 0.4 * options.random()));
  const delay =
    options.retryAfterMs === null ? jittered : Math.min(Math.max(options.retryAfterMs, 1_000), MAX_RETRY_AFTER_MS);
  return options.now + delay;
}
