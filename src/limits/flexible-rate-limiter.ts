import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { RateDecision, RateLimiter } from "../domain/limits/rate-limiter.ts";
import { formatRatePolicy, type RatePolicy } from "../domain/limits/rate-policy.ts";

/**
 * Fixed-window counting on rate-limiter-flexible. One limiter per distinct policy, so per-account
 * overrides share nothing with the defaults. The store is memory for one process; the library's
 * Redis store takes its place when several processes share the limits.
 */
export class FlexibleRateLimiter implements RateLimiter {
  private readonly limiters = new Map<string, RateLimiterAbstract>();

  constructor(private readonly createLimiter: (policy: RatePolicy, name: string) => RateLimiterAbstract = memoryLimiter) {}

  async consume(bucket: string, policy: RatePolicy): Promise<RateDecision> {
    const name = formatRatePolicy(policy);
    let limiter = this.limiters.get(name);
    if (limiter === undefined) {
      limiter = this.createLimiter(policy, name);
      this.limiters.set(name, limiter);
    }
    try {
      const result = await limiter.consume(bucket, 1);
      return decision(true, policy, result);
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) return decision(false, policy, rejection);
      throw rejection;
    }
  }
}

function memoryLimiter(policy: RatePolicy, name: string): RateLimiterAbstract {
  return new RateLimiterMemory({ points: policy.limit, duration: policy.windowSeconds, keyPrefix: name });
}

function decision(allowed: boolean, policy: RatePolicy, result: RateLimiterRes): RateDecision {
  return {
    allowed,
    policy,
    remaining: Math.max(0, result.remainingPoints),
    resetSeconds: Math.max(1, Math.ceil(result.msBeforeNext / 1000)),
  };
}
