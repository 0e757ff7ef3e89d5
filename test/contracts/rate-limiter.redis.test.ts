import { describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { RedisRateLimiter } from "../../src/limits/redis-rate-limiter.ts";
import { deleteKeys, readyRedis, REDIS_URL, uniquePrefix } from "../helpers/redis.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";
import { waitUntil } from "../helpers/wait.ts";
import { rateLimiterContract } from "./rate-limiter.contract.ts";

rateLimiterContract("Redis", async () => {
  const prefix = uniquePrefix();
  // Each limiter has its own connection, as each process would.
  const clients: Redis[] = [];
  return {
    open: async () => {
      const client = await readyRedis(REDIS_URL);
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
    const client = await readyRedis(REDIS_URL);
    try {
      await new RedisRateLimiter(client, prefix).consume("key_a:other", { limit: 3, windowSeconds: 60 });
      expect(await client.keys(`${prefix}:*`)).toEqual([`${prefix}:ratelimit:3/60s:key_a:other`]);
      await deleteKeys(prefix);
      expect(await client.keys(`${prefix}:*`)).toEqual([]);
    } finally {
      client.disconnect();
    }
  });

  it("counts in the process's memory while Redis is unreachable, and in Redis again once it is back", async () => {
    const prefix = uniquePrefix();
    const { proxy, url: proxied } = await TcpProxy.before(REDIS_URL, 6379);
    const client = await readyRedis(proxied);
    try {
      const limiter = new RedisRateLimiter(client, prefix);
      const policy = { limit: 2, windowSeconds: 60 };
      expect(await limiter.consume("key_a:other", policy)).toMatchObject({ allowed: true, remaining: 1 });

      proxy.cut();
      await waitUntil(() => client.status !== "ready");
      // The process's own count: the whole budget again, then refusals.
      const cutOff = [];
      for (let i = 0; i < 3; i += 1) cutOff.push(await limiter.consume("key_a:other", policy));
      expect(cutOff.map((decision) => decision.allowed)).toEqual([true, true, false]);

      proxy.restore();
      await waitUntil(() => client.status === "ready");
      // Redis's count, which had one left before the cut.
      expect(await limiter.consume("key_a:other", policy)).toMatchObject({ allowed: true, remaining: 0 });
      expect(await limiter.consume("key_a:other", policy)).toMatchObject({ allowed: false });
    } finally {
      client.disconnect();
      await proxy.close();
      await deleteKeys(prefix);
    }
  });
});
