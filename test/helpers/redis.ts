import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

/** The machine's Redis (`.ci/run` starts it when down); TEST_REDIS_URL points elsewhere. */
export const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/** A key prefix no other run shares, so tests never touch keys they did not write. */
export function uniquePrefix(): string {
  return `imagegate-test-${randomBytes(6).toString("hex")}`;
}

/** A client for a test's own use, to be disconnected by the test. */
export function testRedis(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
}

/**
 * A client connected before it is handed over: a limiter counts in memory until its client is
 * ready, which would hide what a test means to see of Redis. Errors of a connection a test cuts
 * are expected, so they are not reported.
 */
export async function readyRedis(url: string): Promise<Redis> {
  const client = new Redis(url);
  client.on("error", () => undefined);
  await client.ping();
  return client;
}

/** Deletes every key under the prefix (SCAN, then DEL): never FLUSHDB on a shared Redis. */
export async function deleteKeys(prefix: string): Promise<void> {
  const client = testRedis();
  try {
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
      if (keys.length > 0) await client.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    client.disconnect();
  }
}
