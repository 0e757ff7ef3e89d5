import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteKeys, REDIS_URL, uniquePrefix } from "../helpers/redis.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";
import { call, startTestServer, temporaryDirectory, type TestServer } from "../helpers/test-server.ts";

/** REDIS_URL: the rate limits every process shares. */
describe("REDIS_URL", () => {
  const prefix = uniquePrefix();
  let proxy: TcpProxy;
  let redisUrl: string;
  let dataDir: string;

  beforeAll(async () => {
    ({ proxy, url: redisUrl } = await TcpProxy.before(REDIS_URL, 6379));
    dataDir = await temporaryDirectory();
  });
  afterAll(async () => {
    await proxy.close();
    await deleteKeys(prefix);
  });

  const start = (): Promise<TestServer> =>
    startTestServer({ DATA_DIR: dataDir, REDIS_URL: redisUrl, REDIS_PREFIX: prefix, RATE_LIMIT_OTHER: "3/60s" });
  const credit = (harness: TestServer, key: string) => call(harness.baseUrl, "GET", "/api/v1/chat/credit", { key });

  it("counts a key's requests in Redis, so another process (here: the next run) draws on the same budget", async () => {
    const first = await start();
    const key = first.key;
    try {
      for (let request = 0; request < 2; request += 1) expect((await credit(first, key)).status).toBe(200);
    } finally {
      await first.close();
    }
    const second = await start();
    try {
      expect((await credit(second, key)).status).toBe(200);
      const refused = await credit(second, key);
      expect(refused.status).toBe(429);
      expect(refused.body).toMatchObject({ code: 429, data: null });
      const ready = await call<{ checks: { name: string; ok: boolean }[] }>(second.baseUrl, "GET", "/readyz");
      expect(ready.body.data.checks).toContainEqual({ name: "redis", ok: true });
    } finally {
      await second.close();
    }
  });

  it("goes on answering while Redis cannot be reached, and says so in /readyz", async () => {
    const harness = await start();
    const key = await harness.newAccountKey("through-a-cut");
    try {
      proxy.cut();
      // Counted in memory meanwhile: answered at once, within the budget.
      expect((await credit(harness, key)).status).toBe(200);
      const ready = await call<{ checks: { name: string; ok: boolean; reason?: string }[] }>(harness.baseUrl, "GET", "/readyz");
      expect(ready.status).toBe(503);
      expect(ready.body.data.checks.find((check) => check.name === "redis")?.ok).toBe(false);
    } finally {
      proxy.restore();
      await harness.close();
    }
  });
});
