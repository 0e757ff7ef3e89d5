import type { RatePolicy } from "./rate-policy.ts";

export interface RateDecision {
  allowed: boolean;
  policy: RatePolicy;
  /** Requests left in the current window. */
  remaining: number;
  /** Seconds until the window resets (rounded up). */
  resetSeconds: number;
}

/** Counts requests per bucket (a key and a route class) against a policy. */
export interface RateLimiter {
  consume(bucket: string, policy: RatePolicy): Promise<RateDecision>;
}
