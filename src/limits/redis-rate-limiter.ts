import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis } from "rate-limiter-flexible";
import { FlexibleRateLimiter } from "./flexible-rate-limiter.ts";

/**
 * The limits counted in Redis, so every API process draws on one budget per key. Each window is a
 * counter that rate-limiter-flexible increments and expires in one Lua script, so processes
 * consuming at once never let more through than the policy allows. Keys are
 * `<prefix>:ratelimit:<policy>:<bucket>`. The client is the caller's: closing it is theirs too.
 *
 * While Redis is unreachable each process counts in its own memory instead: requests go on being
 * answered at once, each process allowing the whole budget, rather than wait for Redis or fail.
 */
export class RedisRateLimiter extends FlexibleRateLimiter {
  constructor(client: Redis, prefix: string) {
    super((policy, name) => {
      const window = { points: policy.limit, duration: policy.windowSeconds, keyPrefix: `${prefix}:ratelimit:${name}` };
      return new RateLimiterRedis({
        ...window,
        storeClient: client,
        rejectIfRedisNotReady: true,
        insuranceLimiter: new RateLimiterMemory(window),
      });
    });
  }
}
