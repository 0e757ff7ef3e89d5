import { afterEach, describe, expect, it } from "vitest";
import type { ImageProvider, ImageRequest } from "../../src/providers/image-provider.ts";
import { SandboxImageProvider } from "../../src/providers/sandbox/sandbox-image-provider.ts";
import { call, MODEL, startTestServer, waitForTerminal, type TestServer } from "../helpers/test-server.ts";

const harnesses: TestServer[] = [];
afterEach(async () => {
  for (const harness of harnesses.splice(0)) await harness.close();
});

async function start(env: Record<string, string> = {}, provider?: ImageProvider): Promise<TestServer> {
  const harness = await startTestServer(env, provider === undefined ? {} : { provider });
  harnesses.push(harness);
  return harness;
}

function createTask(harness: TestServer, key: string, prompt = "a banana", headers: Record<string, string> = {}) {
  return call<{ taskId: string } | null>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
    key,
    headers,
    body: { model: MODEL, input: { prompt } },
  });
}

async function accountId(harness: TestServer, name: string): Promise<string> {
  const account = await harness.server.accounts.findAccount(name);
  if (account === null) throw new Error(`no account ${name}`);
  return account.id;
}

async function ledgerKinds(harness: TestServer, name: string): Promise<string[]> {
  const entries = await harness.server.accounts.ledger(name, 10_000);
  if (!entries.ok) throw new Error(entries.message);
  return entries.value.map((entry) => entry.kind).reverse();
}

async function expectLedgerBalances(harness: TestServer, name: string): Promise<number> {
  const id = await accountId(harness, name);
  const balance = await harness.server.accounts.balance(id);
  expect(await harness.server.accounts.ledgerSum(id)).toBe(balance);
  expect(balance).toBeGreaterThanOrEqual(0);
  return balance;
}

describe("credits", () => {
  it("charge each model's price at the resolution asked, shown as creditsConsumed; a failed task costs nothing", async () => {
    const harness = await start({ SANDBOX_LATENCY_MS: "0", PRICES: '{"nano-banana-pro": {"4K": 60}}' });
    const key = await harness.newAccountKey("per-resolution", "live", 100);
    const run = async (model: string, input: Record<string, unknown>) => {
      const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", { key, body: { model, input } });
      expect(created.status).toBe(200);
      return (await waitForTerminal(harness.baseUrl, key, created.body.data.taskId)).record;
    };
    const balance = async () => (await call<number>(harness.baseUrl, "GET", "/api/v1/chat/credit", { key })).body.data;

    expect((await run("nano-banana-pro", { prompt: "at 4K", resolution: "4K", aspect_ratio: "1:1" })).creditsConsumed).toBe(60);
    expect(await balance()).toBe(40);
    expect((await run("nano-banana-2", { prompt: "at 2K", resolution: "2K" })).creditsConsumed).toBe(12);
    expect((await run("google/nano-banana", { prompt: "at 1K" })).creditsConsumed).toBe(4);
    expect(await balance()).toBe(24);
    const failed = await run("nano-banana-pro", { prompt: "[sandbox:fail] at 1K" });
    expect([failed.state, failed.creditsConsumed]).toEqual(["fail", 0]);
    expect(await balance()).toBe(24);
    const refused = await call(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
      key,
      body: { model: "nano-banana-pro", input: { prompt: "too dear", resolution: "4K" } },
    });
    expect(refused.body).toEqual({ code: 402, msg: "Insufficient credits: nano-banana-pro costs 60 credits per task at 4K.", data: null });
    expect(await expectLedgerBalances(harness, "per-resolution")).toBe(24);
  });

  it("200 concurrent createTask calls on a balance that covers 50: exactly 50 succeed, the rest get 402", async () => {
    const harness = await start({ SANDBOX_LATENCY_MS: "60000" });
    const key = await harness.newAccountKey("fifty", "live", 200);
    const answers = await Promise.all(Array.from({ length: 200 }, (_, index) => createTask(harness, key, `task ${index}`)));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(50);
    expect(statuses.filter((status) => status === 402)).toHaveLength(150);
    const refused = answers.find((answer) => answer.status === 402);
    expect(refused?.body).toEqual({ code: 402, msg: "Insufficient credits: nano-banana-text-to-image costs 4 credits per task.", data: null });
    expect(await expectLedgerBalances(harness, "fifty")).toBe(0);
    const kinds = await ledgerKinds(harness, "fifty");
    expect(kinds.filter((kind) => kind === "hold")).toHaveLength(50);
    expect(await harness.server.tasks.countForAccount(await accountId(harness, "fifty"))).toBe(50);
  });

  it("GET /api/v1/chat/credit answers the balance with active holds deducted", async () => {
    const harness = await start({ SANDBOX_LATENCY_MS: "60000" });
    const key = await harness.newAccountKey("reader", "live", 10);
    expect((await call(harness.baseUrl, "GET", "/api/v1/chat/credit", { key })).body).toEqual({ code: 200, msg: "success", data: 10 });
    expect((await createTask(harness, key)).status).toBe(200);
    expect((await call(harness.baseUrl, "GET", "/api/v1/chat/credit", { key })).body).toEqual({ code: 200, msg: "success", data: 6 });
    expect((await call(harness.baseUrl, "GET", "/api/v1/chat/credit", {})).status).toBe(401);
  });

  it("the price comes from PRICE_NANO_BANANA_TEXT_TO_IMAGE", async () => {
    const harness = await start({ PRICE_NANO_BANANA_TEXT_TO_IMAGE: "7", SANDBOX_LATENCY_MS: "60000" });
    const key = await harness.newAccountKey("priced", "live", 20);
    expect((await createTask(harness, key)).status).toBe(200);
    expect(await harness.server.accounts.balance(await accountId(harness, "priced"))).toBe(13);
  });

  it("success captures the hold, failure releases it, each exactly once even when settlement is replayed", async () => {
    const harness = await start({ SANDBOX_LATENCY_MS: "10" });
    const key = await harness.newAccountKey("settler", "live", 100);
    const good = (await createTask(harness, key, "fine")).body.data?.taskId ?? "";
    const bad = (await createTask(harness, key, "[sandbox:fail]")).body.data?.taskId ?? "";
    expect((await waitForTerminal(harness.baseUrl, key, good)).record.state).toBe("success");
    expect((await waitForTerminal(harness.baseUrl, key, bad)).record.state).toBe("fail");
    expect(await expectLedgerBalances(harness, "settler")).toBe(96);
    // Replays of both settlements change nothing.
    expect(await harness.server.tasks.succeed(good, ["http://example.com/x.png"])).toBeNull();
    expect(await harness.server.tasks.fail(good, "INTERNAL", "again")).toBeNull();
    expect(await harness.server.tasks.succeed(bad, ["http://example.com/x.png"])).toBeNull();
    expect(await harness.server.tasks.fail(bad, "INTERNAL", "again")).toBeNull();
    expect(await expectLedgerBalances(harness, "settler")).toBe(96);
    expect((await ledgerKinds(harness, "settler")).slice(1).sort()).toEqual(["capture", "hold", "hold", "release"]);
  });
});

describe("active task limit", () => {
  it("answers 409 once the account has ACTIVE_TASK_LIMIT non-terminal tasks, under concurrency", async () => {
    const harness = await start({ ACTIVE_TASK_LIMIT: "5", SANDBOX_LATENCY_MS: "60000" });
    const key = await harness.newAccountKey("busy");
    const answers = await Promise.all(Array.from({ length: 30 }, (_, index) => createTask(harness, key, `busy ${index}`)));
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(5);
    const refused = answers.filter((answer) => answer.status === 409);
    expect(refused).toHaveLength(25);
    expect(refused[0]?.body).toEqual({
      code: 409,
      msg: "The account already has its maximum of 5 active tasks; wait for some to finish.",
      data: null,
    });
    expect(await expectLedgerBalances(harness, "busy")).toBe(1_000_000 - 5 * 4);
  });

  it("frees a slot when a task settles, and checks the limit before credits", async () => {
    const harness = await start({ ACTIVE_TASK_LIMIT: "1", SANDBOX_LATENCY_MS: "200" });
    const key = await harness.newAccountKey("single", "live", 4);
    const first = (await createTask(harness, key)).body.data?.taskId ?? "";
    // At the limit and without credits for a second task: the limit answers first.
    expect((await createTask(harness, key)).status).toBe(409);
    await waitForTerminal(harness.baseUrl, key, first);
    expect((await createTask(harness, key)).status).toBe(402);
  });
});

describe("rate limits", () => {
  it("allow exactly RATE_LIMIT_CREATE_TASK createTask calls per window, with headers", async () => {
    const harness = await start({ RATE_LIMIT_CREATE_TASK: "5/10s", SANDBOX_LATENCY_MS: "60000" });
    const key = await harness.newAccountKey("limited");
    const answers = [];
    for (let index = 0; index < 7; index += 1) answers.push(await createTask(harness, key));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 429, 429]);
    expect(answers[0]?.headers.get("ratelimit-policy")).toBe('"createTask";q=5;w=10');
    expect(answers.map((answer) => /r=(\d+)/.exec(answer.headers.get("ratelimit") ?? "")?.[1])).toEqual(["4", "3", "2", "1", "0", "0", "0"]);
    const limited = answers[5];
    expect(limited?.body).toMatchObject({ code: 429, data: null });
    expect(limited?.body.msg).toMatch(/^Rate limit exceeded: this key may make 5 createTask requests per 10 s; retry after \d+ s\.$/);
    const retryAfter = Number(limited?.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    // Only the five accepted tasks were stored.
    expect(await harness.server.tasks.countForAccount(await accountId(harness, "limited"))).toBe(5);
  });

  it("give other routes their own budget, per key", async () => {
    const harness = await start({ RATE_LIMIT_OTHER: "3/10s" });
    const key = await harness.newAccountKey("poller");
    const statuses = [];
    for (let index = 0; index < 4; index += 1) {
      statuses.push((await call(harness.baseUrl, "GET", "/api/v1/jobs/recordInfo?taskId=task_x", { key })).status);
    }
    expect(statuses).toEqual([404, 404, 404, 429]);
    const credit = await call(harness.baseUrl, "GET", "/api/v1/chat/credit", { key });
    expect(credit.status).toBe(429);
    expect(credit.headers.get("ratelimit-policy")).toBe('"other";q=3;w=10');
    // createTask still has its own budget, and another key of the same account has its own.
    expect((await createTask(harness, key)).status).toBe(200);
    const created = await harness.server.accounts.createKey("poller", "live");
    const otherKey = created.ok ? created.value.key : "";
    expect((await call(harness.baseUrl, "GET", "/api/v1/jobs/recordInfo?taskId=task_x", { key: otherKey })).status).toBe(404);
  });

  it("come after authentication and before body checks", async () => {
    const harness = await start({ RATE_LIMIT_CREATE_TASK: "1/10s" });
    const key = await harness.newAccountKey("ordered");
    expect((await createTask(harness, `ig_live_${"B".repeat(32)}`)).status).toBe(401);
    expect((await createTask(harness, key)).status).toBe(200);
    const badBody = await call(harness.baseUrl, "POST", "/api/v1/jobs/createTask", { key, rawBody: "{" });
    expect(badBody.status).toBe(429);
  });

  it("follow per-account overrides", async () => {
    const harness = await start({ RATE_LIMIT_CREATE_TASK: "1/10s", SANDBOX_LATENCY_MS: "60000" });
    const key = await harness.newAccountKey("vip");
    expect((await harness.server.accounts.setLimits("vip", { createTask: "3/10s" }, "cli")).ok).toBe(true);
    const statuses = [];
    for (let index = 0; index < 4; index += 1) statuses.push((await createTask(harness, key)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});

describe("test-mode keys", () => {
  it("never touch credits and never reach the configured provider", async () => {
    const seen: ImageRequest[] = [];
    const sandbox = new SandboxImageProvider({ latencyMs: 5 });
    const recording: ImageProvider = {
      name: "recording",
      generate: (request) => {
        seen.push(request);
        return sandbox.generate(request);
      },
    };
    const harness = await start({}, recording);
    const testKey = await harness.newAccountKey("integrator", "test", 0);
    const ids = [];
    for (const prompt of ["one", "two", "[sandbox:fail]"]) {
      const answer = await createTask(harness, testKey, prompt);
      expect(answer.status).toBe(200);
      ids.push(answer.body.data?.taskId ?? "");
    }
    const finals = await Promise.all(ids.map((taskId) => waitForTerminal(harness.baseUrl, testKey, taskId)));
    expect(finals.map((final) => final.record.state)).toEqual(["success", "success", "fail"]);
    expect(seen).toHaveLength(0);
    expect(await ledgerKinds(harness, "integrator")).toEqual([]);
    expect(await expectLedgerBalances(harness, "integrator")).toBe(0);
    // A live key of the same account goes to the configured provider and pays.
    const liveKey = await harness.newAccountKey("integrator", "live", 0);
    expect((await createTask(harness, liveKey)).status).toBe(402);
  });
});
