import { describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { RedisRateLimiter } from "../../src/limits/redis-rate-limiter.ts";
import { deleteKeys, testRedis, uniquePrefix } from "../helpers/redis.ts";
import { rateLimiterContract } from "./rate-limiter.contract.ts";

rateLimiterContract("Redis", async () => {
  const prefix = uniquePrefix();
  // Each limiter has its own connection, as each process would.
  const clients: Redis[] = [];
  return {
    open: () => {
      const client = testRedis();
      clients.push(client);
      return new RedisRateLimiter(client, prefix);
    },
    cleanup: async () => {
      for (const client of clients) client.disconnect();
      await deleteKeys(prefix);
    },
  };
});

describe("RedisRateLimiter", () => {
  it("keeps its counts under the prefix, named by policy and bucket", async () => {
    const prefix = uniquePrefix();
    const client = testRedis();
    try {
      await new RedisRateLimiter(client, prefix).consume("key_a:other", { limit: 3, windowSeconds: 60 });
      expect(await client.keys(`${prefix}:*`)).toEqual([`${prefix}:ratelimit:3/60s:key_a:other`]);
      await deleteKeys(prefix);
      expect(await client.keys(`${prefix}:*`)).toEqual([]);
    } finally {
      client.disconnect();
    }
  });
});
