import type { FastifyReply } from "fastify";
import type { Caller } from "../domain/accounts/account.ts";
import type { RateLimiter } from "../domain/limits/rate-limiter.ts";
import { parseRatePolicy, type RatePolicy } from "../domain/limits/rate-policy.ts";
import { fail } from "./envelope.ts";

export interface RateLimitDefaults {
  createTask: RatePolicy;
  other: RatePolicy;
}

/** createTask has a budget of its own; every other /api/v1 route shares the other. */
export type RateClass = keyof RateLimitDefaults;

type RateLimitCheck = (reply: FastifyReply, caller: Caller) => Promise<boolean>;

/**
 * Each key has one budget for createTask and one for everything else; the check sets the
 * headers of the IETF httpapi ratelimit-headers draft, or answers 429, and answers whether the
 * request may go on. The class is the route's, fixed where the route is registered.
 */
export function rateLimitCheck(limiter: RateLimiter, name: RateClass, fallback: RatePolicy): RateLimitCheck {
  const what = name === "createTask" ? "createTask" : "API";
  return async (reply, caller) => {
    // An account's own policy is text in its row.
    const override = caller.limits[name];
    const policy = (override === null ? null : parseRatePolicy(override)) ?? fallback;
    const decision = await limiter.consume(`${caller.keyId}:${name}`, policy);
    reply.header("RateLimit-Policy", `"${name}";q=${policy.limit};w=${policy.windowSeconds}`);
    reply.header("RateLimit", `"${name}";r=${decision.remaining};t=${decision.resetSeconds}`);
    if (decision.allowed) return true;
    reply.header("Retry-After", String(decision.resetSeconds));
    fail(
      reply,
      "RATE_LIMITED",
      `Rate limit exceeded: this key may make ${policy.limit} ${what} requests per ${policy.windowSeconds} s; retry after ${decision.resetSeconds} s.`,
    );
    return false;
  };
}
