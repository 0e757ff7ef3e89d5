import { createServer, request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import type { ImageProvider, ImageRequest } from "../../src/providers/image-provider.ts";
import { SandboxImageProvider } from "../../src/providers/sandbox/sandbox-image-provider.ts";
import { call, MODEL, startTestServer, statusOf, waitForTerminal, type TaskData, type TestServer } from "../helpers/test-server.ts";

const harnesses: TestServer[] = [];
afterEach(async () => {
  for (const harness of harnesses.splice(0)) await harness.close();
});

let offsetMs = 0;
const clock = { now: () => Date.now() + offsetMs };

async function start(env: Record<string, string> = {}, provider?: ImageProvider): Promise<TestServer> {
  offsetMs = 0;
  const harness = await startTestServer(env, { clock, ...(provider === undefined ? {} : { provider }) });
  harnesses.push(harness);
  return harness;
}

function createTask(harness: TestServer, body: unknown, headers: Record<string, string> = {}, key = harness.key) {
  return call<{ taskId: string } | null>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", { key, headers, body });
}

async function taskIdOf(harness: TestServer, prompt: string, key = harness.key): Promise<string> {
  const answer = await createTask(harness, { model: MODEL, input: { prompt } }, {}, key);
  expect(answer.status).toBe(200);
  return answer.body.data?.taskId ?? "";
}

async function stateOf(harness: TestServer, taskId: string): Promise<string> {
  return (await call<TaskData>(harness.baseUrl, "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, { key: harness.key })).body.data.state;
}

async function until(condition: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("Idempotency-Key on createTask", () => {
  const body = { model: MODEL, input: { prompt: "idempotent banana" } };

  it("answers the first task again for the same key and body, with no second hold", async () => {
    const harness = await start({ SANDBOX_LATENCY_MS: "60000" });
    const before = await harness.server.accounts.balance(harness.accountId);
    const first = await createTask(harness, body, { "Idempotency-Key": "order-1" });
    const again = await createTask(harness, body, { "Idempotency-Key": "order-1" });
    expect(first.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(await harness.server.accounts.balance(harness.accountId)).toBe(before - 4);
    expect(await harness.server.tasks.countForAccount(harness.accountId)).toBe(1);
  });

  it("answers 422 when the same key comes with a different body", async () => {
    const harness = await start({ SANDBOX_LATENCY_MS: "60000" });
    expect((await createTask(harness, body, { "Idempotency-Key": "order-2" })).status).toBe(200);
    const other = await createTask(harness, { model: MODEL, input: { prompt: "another" } }, { "Idempotency-Key": "order-2" });
    expect(other.body).toEqual({
      code: 422,
      msg: "Idempotency-Key was already used with a different request body; use a new key.",
      data: null,
    });
  });

  it("answers 409 while the first request with the key is still being processed", async () => {
    const harness = await start({ SANDBOX_LATENCY_MS: "60000" });
    // A request that claimed the key and has not produced its task yet.
    const param = JSON.stringify(body);
    const { createHash } = await import("node:crypto");
    const claim = await harness.server.store.tasks.claimIdempotencyKey({
      accountId: harness.accountId,
      key: "order-3",
      requestHash: createHash("sha256").update(param).digest("hex"),
      now: Date.now(),
      expiresAt: Date.now() + 86_400_000,
      staleBefore: Date.now() - 60_000,
    });
    expect(claim.kind).toBe("claimed");
    const answer = await createTask(harness, body, { "Idempotency-Key": "order-3" });
    expect(answer.body).toEqual({
      code: 409,
      msg: "A request with this Idempotency-Key is still being processed; retry shortly.",
      data: null,
    });
    // A claim that never produced a task (its request died) stops blocking after a minute.
    offsetMs = 61_000;
    expect((await createTask(harness, body, { "Idempotency-Key": "order-3" })).status).toBe(200);
  });

  it("creates exactly one task under concurrent retries with the same key", async () => {
    const harness = await start({ SANDBOX_LATENCY_MS: "60000" });
    const before = await harness.server.accounts.balance(harness.accountId);
    const answers = await Promise.all(Array.from({ length: 25 }, () => createTask(harness, body, { "Idempotency-Key": "burst" })));
    const ids = new Set(answers.filter((answer) => answer.status === 200).map((answer) => answer.body.data?.taskId));
    expect(ids.size).toBe(1);
    expect(answers.every((answer) => answer.status === 200 || answer.status === 409)).toBe(true);
    expect(await harness.server.tasks.countForAccount(harness.accountId)).toBe(1);
    expect(await harness.server.accounts.balance(harness.accountId)).toBe(before - 4);
  });

  it("is scoped to the account, kept 24 hours, and forgotten when the request was rejected", async () => {
    const harness = await start({ SANDBOX_LATENCY_MS: "60000" });
    const otherKey = await harness.newAccountKey("other-account");
    const mine = await createTask(harness, body, { "Idempotency-Key": "shared" });
    const theirs = await createTask(harness, body, { "Idempotency-Key": "shared" }, otherKey);
    expect(theirs.status).toBe(200);
    expect(theirs.body.data?.taskId).not.toBe(mine.body.data?.taskId);
    // Rejected requests leave the key free.
    expect((await createTask(harness, { model: MODEL, input: { prompt: "" } }, { "Idempotency-Key": "rejected" })).status).toBe(422);
    expect((await createTask(harness, body, { "Idempotency-Key": "rejected" })).status).toBe(200);
    // After 24 hours the key starts afresh.
    offsetMs = 24 * 3_600_000 + 1_000;
    const later = await createTask(harness, body, { "Idempotency-Key": "shared" });
    expect(later.status).toBe(200);
    expect(later.body.data?.taskId).not.toBe(mine.body.data?.taskId);
  });

  it.each([[""], ["x".repeat(256)], ["naïve"]])("answers 400 for the header %j", async (value) => {
    const harness = await start();
    const answer = await createTask(harness, body, { "Idempotency-Key": value });
    expect(answer.body).toEqual({ code: 400, msg: "The Idempotency-Key header must be 1 to 255 printable ASCII characters.", data: null });
  });

  it("answers 400 for a header sent twice, and creates nothing", async () => {
    const harness = await start({ SANDBOX_LATENCY_MS: "60000" });
    const before = await harness.server.accounts.balance(harness.accountId);
    // fetch would join the two values into one header; node:http sends them as given.
    const payload = JSON.stringify(body);
    const answer = await new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const url = new URL("/api/v1/jobs/createTask", harness.baseUrl);
      // Raw headers go out exactly as listed, so Host and Content-Length are given too.
      const outgoing = request(url, {
        method: "POST",
        headers: [
          "Host", url.host, "Authorization", `Bearer ${harness.key}`, "Content-Type", "application/json",
          "Content-Length", String(Buffer.byteLength(payload)), "Idempotency-Key", "order-a", "Idempotency-Key", "order-b",
        ],
      });
      outgoing.on("response", (incoming) => {
        let text = "";
        incoming.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
        incoming.on("end", () => resolve({ status: incoming.statusCode ?? 0, body: JSON.parse(text) as unknown }));
      });
      outgoing.on("error", reject);
      outgoing.end(payload);
    });
    expect(answer).toEqual({ status: 400, body: { code: 400, msg: "The Idempotency-Key header must be sent once.", data: null } });
    expect(await harness.server.accounts.balance(harness.accountId)).toEqual(before);
    // Neither key, nor the two joined, was claimed.
    const first = await createTask(harness, body, { "Idempotency-Key": "order-a, order-b" });
    const second = await createTask(harness, { model: MODEL, input: { prompt: "another" } }, { "Idempotency-Key": "order-a, order-b" });
    expect([first.status, second.status]).toEqual([200, 422]);
  });
});

describe("POST /api/v1/jobs/cancelTask", () => {
  function cancel(harness: TestServer, body: unknown) {
    return call<TaskData | null>(harness.baseUrl, "POST", "/api/v1/jobs/cancelTask", { key: harness.key, body });
  }

  it("cancels a queuing task and releases its hold", async () => {
    const harness = await start({ SANDBOX_LATENCY_MS: "60000", WORKER_CONCURRENCY: "1" });
    const before = await harness.server.accounts.balance(harness.accountId);
    await taskIdOf(harness, "occupies the only worker");
    const waiting = await taskIdOf(harness, "waits in the queue");
    expect(await stateOf(harness, waiting)).toBe("queuing");
    const answer = await cancel(harness, { taskId: waiting });
    expect(answer.status).toBe(200);
    expect(answer.body.data).toMatchObject({ taskId: waiting, state: "fail", failCode: "CANCELED", failMsg: "The task was canceled." });
    expect(answer.body.data?.costTime).toBe((answer.body.data?.completeTime ?? 0) - (answer.body.data?.createTime ?? 0));
    expect(await harness.server.accounts.balance(harness.accountId)).toBe(before - 4);
  });

  it("aborts the upstream call of a generating task at once", async () => {
    const signals: AbortSignal[] = [];
    const slow = new SandboxImageProvider({ latencyMs: 60_000 });
    const provider: ImageProvider = {
      name: "watching",
      generate: (request: ImageRequest) => {
        signals.push(request.signal);
        return slow.generate(request);
      },
    };
    const harness = await start({}, provider);
    const before = await harness.server.accounts.balance(harness.accountId);
    const taskId = await taskIdOf(harness, "long one");
    await until(async () => (await stateOf(harness, taskId)) === "generating");
    const started = Date.now();
    expect((await cancel(harness, { taskId })).body.data).toMatchObject({ state: "fail", failCode: "CANCELED" });
    await until(async () => signals[0]?.aborted === true, 1_000);
    expect(Date.now() - started).toBeLessThan(1_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The worker's own settlement of the aborted call changes nothing.
    const { record } = await waitForTerminal(harness.baseUrl, harness.key, taskId);
    expect(record).toMatchObject({ state: "fail", failCode: "CANCELED" });
    expect(await harness.server.accounts.balance(harness.accountId)).toBe(before);
    expect(await harness.server.accounts.ledgerSum(harness.accountId)).toBe(before);
  });

  it("fires the task's callback with the canceled record", async () => {
    const received: string[] = [];
    const receiver = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on("end", () => {
        received.push(body);
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const address = receiver.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    try {
      const harness = await start({ SANDBOX_LATENCY_MS: "60000", CALLBACK_ALLOW_PRIVATE: "true" });
      const created = await createTask(harness, {
        model: MODEL,
        input: { prompt: "canceled with a callback" },
        callBackUrl: `http://127.0.0.1:${port}/hook`,
      });
      const taskId = created.body.data?.taskId ?? "";
      const canceled = await cancel(harness, { taskId });
      await until(async () => received.length === 1);
      expect(JSON.parse(received[0] ?? "null")).toEqual({ code: 200, msg: "success", data: canceled.body.data });
      expect(canceled.body.data).toMatchObject({ state: "fail", failCode: "CANCELED" });
    } finally {
      receiver.close();
    }
  });

  it("answers 409 for a task that already ended, 404 for an unknown one, 400 without taskId", async () => {
    const harness = await start({ SANDBOX_LATENCY_MS: "10" });
    const taskId = await taskIdOf(harness, "quick");
    await waitForTerminal(harness.baseUrl, harness.key, taskId);
    expect((await cancel(harness, { taskId })).body).toEqual({
      code: 409,
      msg: "The task is already success; only waiting, queuing or generating tasks can be canceled.",
      data: null,
    });
    expect((await cancel(harness, { taskId: "task_nothing" })).body).toEqual({ code: 404, msg: "no task with taskId task_nothing", data: null });
    const otherKey = await harness.newAccountKey("stranger");
    const foreign = await call(harness.baseUrl, "POST", "/api/v1/jobs/cancelTask", { key: otherKey, body: { taskId } });
    expect(foreign.status).toBe(404);
    expect((await cancel(harness, {})).body).toEqual({ code: 400, msg: "taskId is required and must be a non-empty string.", data: null });
  });
});

describe("GET /api/v1/jobs/streamInfo", () => {
  async function readStream(harness: TestServer, taskId: string): Promise<{ response: Response; events: TaskData[] }> {
    const response = await fetch(`${harness.baseUrl}/api/v1/jobs/streamInfo?taskId=${taskId}`, {
      headers: { Authorization: `Bearer ${harness.key}` },
    });
    const text = await response.text();
    const events = text
      .split("\n\n")
      .filter((block) => block.startsWith("event: state"))
      .map((block) => JSON.parse(block.split("\ndata: ")[1] ?? "null") as TaskData);
    return { response, events };
  }

  it("sends every state in order and closes after the terminal one", async () => {
    const harness = await start({ SANDBOX_LATENCY_MS: "300", WORKER_CONCURRENCY: "1" });
    await taskIdOf(harness, "ahead in the queue");
    const taskId = await taskIdOf(harness, "followed live");
    const { response, events } = await readStream(harness, taskId);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("no-cache, no-transform");
    expect(response.headers.get("x-accel-buffering")).toBe("no");
    expect(events.map((event) => event.state)).toEqual(["queuing", "generating", "success"]);
    const last = events.at(-1);
    const record = await call<TaskData>(harness.baseUrl, "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, { key: harness.key });
    expect(last).toEqual(record.body.data);
  });

  it("sends the terminal state alone for a finished task", async () => {
    const harness = await start({ SANDBOX_LATENCY_MS: "10" });
    const taskId = await taskIdOf(harness, "done already");
    await waitForTerminal(harness.baseUrl, harness.key, taskId);
    expect((await readStream(harness, taskId)).events.map((event) => event.state)).toEqual(["success"]);
  });

  it("answers 400 and 404 like recordInfo", async () => {
    const harness = await start();
    expect((await call(harness.baseUrl, "GET", "/api/v1/jobs/streamInfo", { key: harness.key })).status).toBe(400);
    expect((await call(harness.baseUrl, "GET", "/api/v1/jobs/streamInfo?taskId=task_none", { key: harness.key })).body).toEqual({
      code: 404,
      msg: "no task with taskId task_none",
      data: null,
    });
  });
});

describe("POST /api/v1/common/download-url", () => {
  function downloadUrl(harness: TestServer, body: unknown, key = harness.key) {
    return call<string | null>(harness.baseUrl, "POST", "/api/v1/common/download-url", { key, body });
  }

  it("answers a URL for the same file that is valid for 20 minutes", async () => {
    const harness = await start({ SANDBOX_LATENCY_MS: "10" });
    const taskId = await taskIdOf(harness, "link me");
    const { record } = await waitForTerminal(harness.baseUrl, harness.key, taskId);
    const resultUrl = (JSON.parse(record.resultJson ?? "{}") as { resultUrls: string[] }).resultUrls[0] ?? "";
    const answer = await downloadUrl(harness, { url: resultUrl });
    expect(answer.status).toBe(200);
    const link = new URL(answer.body.data ?? "");
    expect(link.pathname).toBe(new URL(resultUrl).pathname);
    const expires = Number(link.searchParams.get("expires"));
    expect(expires - Math.floor(Date.now() / 1000)).toBeGreaterThan(20 * 60 - 5);
    expect(expires - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(20 * 60);
    const original = Buffer.from(await (await fetch(resultUrl)).arrayBuffer());
    const viaLink = Buffer.from(await (await fetch(link)).arrayBuffer());
    expect(viaLink.equals(original)).toBe(true);
    offsetMs = 21 * 60_000;
    expect(await statusOf(link)).toBe(404);
    offsetMs = 0;
  });

  it("answers 422 for any other URL", async () => {
    const harness = await start({ SANDBOX_LATENCY_MS: "10" });
    const taskId = await taskIdOf(harness, "mine only");
    const { record } = await waitForTerminal(harness.baseUrl, harness.key, taskId);
    const resultUrl = (JSON.parse(record.resultJson ?? "{}") as { resultUrls: string[] }).resultUrls[0] ?? "";
    // Another first character, whatever the signature begins with (replacing it by a fixed one
    // left the URL valid whenever the signature began with that character).
    const tampered = resultUrl.replace(/signature=(.)/, (_match, first: string) => `signature=${first === "A" ? "B" : "A"}`);
    const otherHost = resultUrl.replace("127.0.0.1", "example.com");
    const otherKey = await harness.newAccountKey("outsider");
    const message = { code: 422, msg: "url must be a resultUrl of one of your tasks.", data: null };
    for (const url of [tampered, otherHost, "https://example.com/x.png", "not a url"]) {
      expect((await downloadUrl(harness, { url })).body).toEqual(message);
    }
    expect((await downloadUrl(harness, { url: resultUrl }, otherKey)).body).toEqual(message);
    expect((await downloadUrl(harness, {})).body).toEqual({ code: 400, msg: "url is required and must be a string.", data: null });
  });
});
