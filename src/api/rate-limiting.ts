import type { FastifyInstance } from "fastify";
import type { RateLimiter } from "../domain/limits/rate-limiter.ts";
import { parseRatePolicy, type RatePolicy } from "../domain/limits/rate-policy.ts";
import { fail } from "./envelope.ts";

export interface RateLimitDefaults {
  createTask: RatePolicy;
  other: RatePolicy;
}

const CREATE_TASK_ROUTE = "/api/v1/jobs/createTask";

/**
 * Runs right after authentication on every /api/v1 route: each key has one budget for createTask
 * and one for everything else. Headers follow the IETF httpapi ratelimit-headers draft.
 */
export function registerRateLimiting(api: FastifyInstance, limiter: RateLimiter, defaults: RateLimitDefaults): void {
  api.addHook("onRequest", async (request, reply) => {
    const caller = request.caller;
    if (caller === null) return;
    const isCreate = request.routeOptions.url === CREATE_TASK_ROUTE;
    const name = isCreate ? "createTask" : "other";
    const override = isCreate ? caller.limits.createTask : caller.limits.other;
    const policy = (override === null ? null : parseRatePolicy(override)) ?? (isCreate ? defaults.createTask : defaults.other);
    const decision = await limiter.consume(`${caller.keyId}:${name}`, policy);
    reply.header("RateLimit-Policy", `"${name}";q=${policy.limit};w=${policy.windowSeconds}`);
    reply.header("RateLimit", `"${name}";r=${decision.remaining};t=${decision.resetSeconds}`);
    if (!decision.allowed) {
      reply.header("Retry-After", String(decision.resetSeconds));
      return fail(
        reply,
        "RATE_LIMITED",
        `Rate limit exceeded: this key may make ${policy.limit} ${isCreate ? "createTask" : "API"} requests per ${policy.windowSeconds} s; retry after ${decision.resetSeconds} s.`,
      );
    }
  });
}
