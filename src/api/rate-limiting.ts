import type { FastifyReply, FastifyRequest } from "fastify";
import type { Caller } from "../domain/accounts/account.ts";
import type { RateLimiter } from "../domain/limits/rate-limiter.ts";
import { parseRatePolicy, type RatePolicy } from "../domain/limits/rate-policy.ts";
import { fail } from "./envelope.ts";

export interface RateLimitDefaults {
  createTask: RatePolicy;
  other: RatePolicy;
}

const CREATE_TASK_ROUTE = "/api/v1/jobs/createTask";

type RateLimitCheck = (request: FastifyRequest, reply: FastifyReply, caller: Caller) => Promise<boolean>;

/**
 * Each key has one budget for createTask and one for everything else; the check sets the
 * headers of the IETF httpapi ratelimit-headers draft, or answers 429, and answers whether the
 * request may go on.
 */
export function rateLimitCheck(limiter: RateLimiter, defaults: RateLimitDefaults): RateLimitCheck {
  // An account's own policy is text in its row.
  const policyOf = (override: string | null, fallback: RatePolicy): RatePolicy =>
    (override === null ? null : parseRatePolicy(override)) ?? fallback;
  return async (request, reply, caller) => {
    const isCreate = request.routeOptions.url === CREATE_TASK_ROUTE;
    const name = isCreate ? "createTask" : "other";
    const policy = isCreate
      ? policyOf(caller.limits.createTask, defaults.createTask)
      : policyOf(caller.limits.other, defaults.other);
    const decision = await limiter.consume(`${caller.keyId}:${name}`, policy);
    reply.header("RateLimit-Policy", `"${name}";q=${policy.limit};w=${policy.windowSeconds}`);
    reply.header("RateLimit", `"${name}";r=${decision.remaining};t=${decision.resetSeconds}`);
    if (decision.allowed) return true;
    reply.header("Retry-After", String(decision.resetSeconds));
    fail(
      reply,
      "RATE_LIMITED",
      `Rate limit exceeded: this key may make ${policy.limit} ${isCreate ? "createTask" : "API"} requests per ${policy.windowSeconds} s; retry after ${decision.resetSeconds} s.`,
    );
    return false;
  };
}
