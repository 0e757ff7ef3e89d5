import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RateLimiter } from "../../src/domain/limits/rate-limiter.ts";

/**
 * One store of counts, as a test sees it: `open()` is one more process's limiter on that store (a
 * store in memory belongs to one process, so its adapter answers the same limiter again).
 */
export interface RateLimiterHarness {
  open(): Promise<RateLimiter>;
  cleanup(): Promise<void>;
}

/** The behaviour every RateLimiter adapter shares; `create` builds a fresh store per test. */
export function rateLimiterContract(name: string, create: () => Promise<RateLimiterHarness>): void {
  describe(`RateLimiter contract: ${name}`, () => {
    let harness: RateLimiterHarness;
    beforeEach(async () => {
      harness = await create();
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    it("allows up to the policy's count in a window, then refuses with none remaining and a positive reset", async () => {
      const limiter = await harness.open();
      const policy = { limit: 3, windowSeconds: 60 };
      const decisions = [];
      for (let i = 0; i < 5; i += 1) decisions.push(await limiter.consume("key_a:other", policy));
      expect(decisions.map((decision) => decision.allowed)).toEqual([true, true, true, false, false]);
      expect(decisions.map((decision) => decision.remaining)).toEqual([2, 1, 0, 0, 0]);
      for (const decision of decisions) {
        expect(decision.policy).toEqual(policy);
        expect(decision.resetSeconds).toBeGreaterThan(0);
        expect(decision.resetSeconds).toBeLessThanOrEqual(60);
      }
    });

    it("keeps buckets apart, and policies of one bucket apart", async () => {
      const limiter = await harness.open();
      const policy = { limit: 1, windowSeconds: 60 };
      expect((await limiter.consume("key_a:createTask", policy)).allowed).toBe(true);
      expect((await limiter.consume("key_a:createTask", policy)).allowed).toBe(false);
      expect((await limiter.consume("key_a:other", policy)).allowed).toBe(true);
      expect((await limiter.consume("key_b:createTask", policy)).allowed).toBe(true);
      // An account given its own policy starts a count of its own.
      expect((await limiter.consume("key_a:createTask", { limit: 2, windowSeconds: 60 })).allowed).toBe(true);
    });

    it("starts a new count once the window has passed", async () => {
      const limiter = await harness.open();
      const policy = { limit: 2, windowSeconds: 1 };
      await limiter.consume("key_a:other", policy);
      await limiter.consume("key_a:other", policy);
      const refused = await limiter.consume("key_a:other", policy);
      expect(refused.allowed).toBe(false);
      await sleep(refused.resetSeconds * 1000 + 100);
      const next = await limiter.consume("key_a:other", policy);
      expect(next).toMatchObject({ allowed: true, remaining: 1 });
    });

    it("never allows more than the limit to consumes made at once, from two limiters on the store", async () => {
      const limiters = [await harness.open(), await harness.open()];
      const policy = { limit: 25, windowSeconds: 60 };
      const decisions = await Promise.all(
        Array.from({ length: 100 }, (_, i) => (limiters[i % 2] as RateLimiter).consume("key_a:createTask", policy)),
      );
      expect(decisions.filter((decision) => decision.allowed)).toHaveLength(25);
      // Each allowed consume saw its own place in the count.
      const remaining = decisions.filter((decision) => decision.allowed).map((decision) => decision.remaining);
      expect(new Set(remaining).size).toBe(25);
    });
  });
}
