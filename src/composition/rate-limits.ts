import type { Logger } from "pino";
import type { Config } from "../config.ts";
import type { RateLimiter } from "../domain/limits/rate-limiter.ts";
import { FlexibleRateLimiter } from "../limits/flexible-rate-limiter.ts";

/** The configured counter of requests per key, with what the server needs of it beside the port. */
export interface RateLimits {
  limiter: RateLimiter;
  /** Resolves when the counters' store answers; rejects with why not (for /readyz). null: in process. */
  ping: (() => Promise<void>) | null;
  close(): Promise<void>;
}

/**
 * In this process's memory, or in Redis with REDIS_URL, where every API process draws on one
 * budget per key. The server does not wait for Redis to start: until it answers (and whenever it
 * cannot be reached) each process counts in memory, and /readyz says so.
 */
export async function openRateLimits(config: Config, logger: Logger): Promise<RateLimits> {
  if (config.redis === null) return { limiter: new FlexibleRateLimiter(), ping: null, close: () => Promise.resolve() };
  // Loaded only when configured: the embedded default needs none of it.
  const [{ Redis }, { RedisRateLimiter }] = await Promise.all([import("ioredis"), import("../limits/redis-rate-limiter.ts")]);
  // Counts of requests arriving together go to Redis in one write (ioredis's auto-pipelining).
  const client = new Redis(config.redis.url, { maxRetriesPerRequest: 1, connectionName: "imagegate-rate-limits", enableAutoPipelining: true });
  let reachable = true;
  client.on("error", (error: Error) => {
    if (!reachable) return;
    reachable = false;
    logger.warn({ err: error }, "Redis cannot be reached: rate limits are counted in each process's memory until it answers");
  });
  client.on("ready", () => {
    if (!reachable) logger.info("Redis answers again: rate limits are counted in Redis");
    reachable = true;
  });
  return {
    limiter: new RedisRateLimiter(client, config.redis.prefix),
    ping: async () => {
      await client.ping();
    },
    close: async () => {
      await client.quit().catch(() => client.disconnect());
    },
  };
}
