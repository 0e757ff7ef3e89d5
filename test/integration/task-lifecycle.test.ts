import { readdir } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BASE_RATIOS, pixelSize } from "../../src/domain/catalog/aspect-ratios.ts";
import { call, MODEL, startTestServer, statusOf, waitForTerminal, type TaskData, type TestServer } from "../helpers/test-server.ts";

const DAY_MS = 86_400_000;
let offsetMs = 0;
const clock = { now: () => Date.now() + offsetMs };
let harness: TestServer;

beforeAll(async () => {
  harness = await startTestServer({ SANDBOX_LATENCY_MS: "150" }, { clock });
});
afterAll(async () => {
  await harness.close();
});

async function createTask(input: Record<string, unknown>, key = harness.key): Promise<string> {
  const answer = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
    key,
    body: { model: MODEL, input },
  });
  expect(answer.status).toBe(200);
  return answer.body.data.taskId;
}

function resultUrl(record: TaskData): string {
  const parsed = JSON.parse(record.resultJson ?? "null") as { resultUrls: string[] };
  expect(parsed.resultUrls).toHaveLength(1);
  return parsed.resultUrls[0] ?? "";
}

describe("a task's life", () => {
  it("moves waiting/queuing -> generating -> success, with every recordInfo field", async () => {
    const body = { model: MODEL, input: { prompt: "a lighthouse at dusk", image_size: "16:9" } };
    const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", { key: harness.key, body });
    const taskId = created.body.data.taskId;
    const { record, states } = await waitForTerminal(harness.baseUrl, harness.key, taskId);
    expect(states.slice(-2)).toEqual(["generating", "success"]);
    expect(["queuing", "generating"]).toContain(states[0]);
    expect(Object.keys(record).sort()).toEqual(
      ["completeTime", "costTime", "createTime", "creditsConsumed", "failCode", "failMsg", "model", "param", "resultJson", "state", "taskId", "updateTime"].sort(),
    );
    expect(record.creditsConsumed).toBe(4);
    expect(record.taskId).toBe(taskId);
    expect(record.model).toBe(MODEL);
    expect(JSON.parse(record.param)).toEqual(body);
    expect(record.failCode).toBeNull();
    expect(record.failMsg).toBeNull();
    expect(typeof record.createTime).toBe("number");
    expect(record.completeTime).toBeGreaterThanOrEqual(record.createTime);
    expect(record.costTime).toBe((record.completeTime ?? 0) - record.createTime);
    expect(record.updateTime).toBe(record.completeTime);
    expect(resultUrl(record)).toMatch(new RegExp(`^${harness.baseUrl}/files/\\d{4}-\\d{2}-\\d{2}/${taskId}\\.png\\?expires=\\d+&signature=[\\w-]+$`));
  });

  it("answers null terminal fields while the task runs", async () => {
    const taskId = await createTask({ prompt: "still running" });
    const answer = await call<TaskData>(harness.baseUrl, "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, { key: harness.key });
    expect(answer.status).toBe(200);
    expect(["waiting", "queuing", "generating"]).toContain(answer.body.data.state);
    expect(answer.body.data.resultJson).toBeNull();
    expect(answer.body.data.costTime).toBeNull();
    expect(answer.body.data.completeTime).toBeNull();
    expect(answer.body.data.creditsConsumed).toBe(0);
    await waitForTerminal(harness.baseUrl, harness.key, taskId);
  });

  it("keeps param as the client sent it, before defaults", async () => {
    const taskId = await createTask({ prompt: "as sent", aspect_ratio: "3:2", output_format: "jpg" });
    const { record } = await waitForTerminal(harness.baseUrl, harness.key, taskId);
    expect(JSON.parse(record.param)).toEqual({ model: MODEL, input: { prompt: "as sent", aspect_ratio: "3:2", output_format: "jpg" } });
    expect(resultUrl(record)).toMatch(/\.jpg\?/);
  });

  it("fails with PROVIDER_ERROR for [sandbox:fail]", async () => {
    const taskId = await createTask({ prompt: "please [sandbox:fail]" });
    const { record } = await waitForTerminal(harness.baseUrl, harness.key, taskId);
    expect(record).toMatchObject({ state: "fail", failCode: "PROVIDER_ERROR", resultJson: null });
    expect(record.failMsg).toMatch(/\w+/);
    expect(record.costTime).toBe((record.completeTime ?? 0) - record.createTime);
  });

  it("fails with CONTENT_POLICY for [sandbox:unsafe] with the checker on, and succeeds with it off", async () => {
    const checked = await createTask({ prompt: "[sandbox:unsafe] thing" });
    const relaxed = await createTask({ prompt: "[sandbox:unsafe] thing", nsfw_checker: false });
    expect((await waitForTerminal(harness.baseUrl, harness.key, checked)).record).toMatchObject({ state: "fail", failCode: "CONTENT_POLICY" });
    expect((await waitForTerminal(harness.baseUrl, harness.key, relaxed)).record.state).toBe("success");
  });
});

describe("result files", () => {
  const ratios = [...BASE_RATIOS, "auto"] as const;
  for (const format of ["png", "jpeg"] as const) {
    it(`are ${format} images of the table's size for every ratio`, async () => {
      const ids = await Promise.all(ratios.map((ratio) => createTask({ prompt: `ratio ${ratio}`, image_size: ratio, output_format: format })));
      for (const [index, taskId] of ids.entries()) {
        const ratio = ratios[index] ?? "1:1";
        const { record } = await waitForTerminal(harness.baseUrl, harness.key, taskId);
        expect(record.state).toBe("success");
        const response = await fetch(resultUrl(record));
        expect(response.status).toBe(200);
        expect(response.headers.get("content-type")).toBe(format === "png" ? "image/png" : "image/jpeg");
        const bytes = Buffer.from(await response.arrayBuffer());
        expect(response.headers.get("content-length")).toBe(String(bytes.length));
        expect(response.headers.get("etag")).toMatch(/^"[\w-]+"$/);
        expect(response.headers.get("cache-control")).toMatch(/max-age=\d+/);
        const metadata = await sharp(bytes).metadata();
        expect(metadata.format).toBe(format);
        expect({ width: metadata.width, height: metadata.height }).toEqual(pixelSize(ratio));
      }
    });
  }

  it("answers 304 to a matching If-None-Match", async () => {
    const taskId = await createTask({ prompt: "etag" });
    const url = resultUrl((await waitForTerminal(harness.baseUrl, harness.key, taskId)).record);
    const first = await fetch(url);
    const etag = first.headers.get("etag") ?? "";
    await first.arrayBuffer();
    const second = await fetch(url, { headers: { "If-None-Match": etag } });
    expect(second.status).toBe(304);
  });

  it("answer a byte range with 206, one past the end with 416, and the whole file when If-Range is stale", async () => {
    const taskId = await createTask({ prompt: "ranges" });
    const url = resultUrl((await waitForTerminal(harness.baseUrl, harness.key, taskId)).record);
    const whole = await fetch(url);
    expect(whole.headers.get("accept-ranges")).toBe("bytes");
    const bytes = Buffer.from(await whole.arrayBuffer());
    const etag = whole.headers.get("etag") ?? "";

    const head = await fetch(url, { headers: { Range: "bytes=0-99" } });
    expect(head.status).toBe(206);
    expect(head.headers.get("content-range")).toBe(`bytes 0-99/${bytes.length}`);
    expect(head.headers.get("content-length")).toBe("100");
    expect(Buffer.from(await head.arrayBuffer())).toEqual(bytes.subarray(0, 100));

    const tail = await fetch(url, { headers: { Range: "bytes=-10", "If-Range": etag } });
    expect(tail.status).toBe(206);
    expect(tail.headers.get("content-range")).toBe(`bytes ${bytes.length - 10}-${bytes.length - 1}/${bytes.length}`);
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(bytes.subarray(bytes.length - 10));

    const beyond = await fetch(url, { headers: { Range: `bytes=${bytes.length}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get("content-range")).toBe(`bytes */${bytes.length}`);
    expect(await beyond.json()).toEqual({ code: 416, msg: `The requested range is not within the file's ${bytes.length} bytes.`, data: null });

    const stale = await fetch(url, { headers: { Range: "bytes=0-99", "If-Range": '"another-version"' } });
    expect(stale.status).toBe(200);
    expect(Buffer.from(await stale.arrayBuffer())).toEqual(bytes);
  });

  it("are 403 when the URL is tampered with", async () => {
    const taskId = await createTask({ prompt: "tamper" });
    const url = new URL(resultUrl((await waitForTerminal(harness.baseUrl, harness.key, taskId)).record));
    const otherExpiry = new URL(url);
    otherExpiry.searchParams.set("expires", String(Number(url.searchParams.get("expires")) + 1));
    const otherPath = new URL(url);
    otherPath.pathname = otherPath.pathname.replace(".png", ".jpg");
    const noSignature = new URL(url);
    noSignature.searchParams.delete("signature");
    for (const tampered of [otherExpiry, otherPath, noSignature]) {
      const response = await fetch(tampered);
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ code: 403, data: null });
    }
  });

  it("are 404 after the retention period, and the sweep deletes the files", async () => {
    const taskId = await createTask({ prompt: "retention" });
    const url = resultUrl((await waitForTerminal(harness.baseUrl, harness.key, taskId)).record);
    expect(await statusOf(url)).toBe(200);
    const day = path.basename(path.dirname(new URL(url).pathname));
    const dayDirectory = path.join(harness.dataDir, "results", day);
    expect((await readdir(dayDirectory)).some((name) => name.startsWith(taskId))).toBe(true);
    offsetMs = 15 * DAY_MS;
    try {
      const response = await fetch(url);
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ code: 404, data: null });
      await harness.server.sweep();
      const remaining = await readdir(dayDirectory).catch(() => [] as string[]);
      expect(remaining.some((name) => name.startsWith(taskId))).toBe(false);
    } finally {
      offsetMs = 0;
    }
  });
});

describe("keys and accounts", () => {
  it("a revoked key answers 401 at once", async () => {
    const key = await harness.newAccountKey("revoking");
    const keys = await harness.server.accounts.listKeys();
    const record = keys.find((candidate) => key.startsWith(candidate.hint.replace("…", "")) && candidate.revokedAt === null);
    expect((await call(harness.baseUrl, "GET", "/api/v1/jobs/recordInfo?taskId=task_x", { key })).status).toBe(404);
    expect((await harness.server.accounts.revokeKey(record?.id ?? "")).ok).toBe(true);
    const answer = await call(harness.baseUrl, "GET", "/api/v1/jobs/recordInfo?taskId=task_x", { key });
    expect(answer.status).toBe(401);
    expect(answer.body).toMatchObject({ code: 401, data: null });
  });

  it("another account's task answers 404, like a missing one", async () => {
    const taskId = await createTask({ prompt: "mine" });
    const otherKey = await harness.newAccountKey("bravo");
    const foreign = await call(harness.baseUrl, "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, { key: otherKey });
    const missing = await call(harness.baseUrl, "GET", "/api/v1/jobs/recordInfo?taskId=task_nothing", { key: otherKey });
    expect(foreign.status).toBe(404);
    expect(foreign.body).toEqual({ code: 404, msg: `no task with taskId ${taskId}`, data: null });
    expect(missing.body.msg).toBe("no task with taskId task_nothing");
  });
});

describe("GET /api/v1/jobs/recordInfo", () => {
  it.each([[""], ["?taskId="], ["?taskId=%20"], ["?other=1"]])("answers 400 for %j", async (query) => {
    const answer = await call(harness.baseUrl, "GET", `/api/v1/jobs/recordInfo${query}`, { key: harness.key });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ code: 400, msg: "taskId is required as a query parameter.", data: null });
  });
  it("answers 400 naming taskId when it is given twice", async () => {
    const answer = await call(harness.baseUrl, "GET", "/api/v1/jobs/recordInfo?taskId=task_a&taskId=task_b", { key: harness.key });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ code: 400, msg: "taskId must be given once: one task per request.", data: null });
  });
  it("answers 401 before 400", async () => {
    expect((await call(harness.baseUrl, "GET", "/api/v1/jobs/recordInfo", {})).status).toBe(401);
  });
});

describe("service routes", () => {
  it("/healthz and /readyz answer 200", async () => {
    expect((await call(harness.baseUrl, "GET", "/healthz")).status).toBe(200);
    const ready = await call<{ checks: { name: string; ok: boolean }[] }>(harness.baseUrl, "GET", "/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body.data.checks.map((check) => check.name)).toContain("database");
  });

  it("/openapi.json documents the task routes with the input schema", async () => {
    const response = await fetch(`${harness.baseUrl}/openapi.json`);
    const document = (await response.json()) as { openapi: string; paths: Record<string, Record<string, { requestBody?: unknown }>> };
    expect(document.openapi).toMatch(/^3\./);
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(["/api/v1/jobs/createTask", "/api/v1/jobs/recordInfo"]));
    expect(JSON.stringify(document.paths["/api/v1/jobs/createTask"])).toContain("image_size");
  });

  it("/metrics reports memory, event-loop delay, the queue and settled tasks", async () => {
    const response = await fetch(`${harness.baseUrl}/metrics`);
    expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await response.text();
    expect(text).toMatch(/^process_resident_memory_bytes \d+$/m);
    expect(text).toMatch(/^imagegate_event_loop_delay_seconds\{quantile="0\.99"\} [\d.e-]+$/m);
    expect(text).toMatch(/^imagegate_tasks_running \d+$/m);
    // Tasks were created, so groups were committed and the log was flushed at least once.
    expect(text).toMatch(/^imagegate_database_commits_total [1-9]\d*$/m);
    expect(text).toMatch(/^imagegate_database_syncs_total [1-9]\d*$/m);
    expect(text).toMatch(/^imagegate_tasks_settled_total\{model="nano-banana-text-to-image",state="success"\} [1-9]\d*$/m);
    expect(text).toMatch(
      /^imagegate_tasks_settled_total\{model="nano-banana-text-to-image",state="fail",fail_code="PROVIDER_ERROR"\} [1-9]\d*$/m,
    );
  });

  it("/metrics shows the log the server checkpoints off the event loop", async () => {
    const text = await (await fetch(`${harness.baseUrl}/metrics`)).text();
    // Read from the wal-index after each commit: tasks were written, so the log is not empty.
    expect(text).toMatch(/^imagegate_database_log_frames [1-9]\d*$/m);
    expect(text).toMatch(/^imagegate_database_checkpoints_total \d+$/m);
    expect(text).toMatch(/^imagegate_database_checkpoint_seconds_total [\d.]+$/m);
    expect(text).toMatch(/^imagegate_database_log_restart_checkpoints_total \d+$/m);
    expect(text).toMatch(/^imagegate_database_log_restart_checkpoint_seconds_total [\d.]+$/m);
  });

  it("/docs serves a readable page", async () => {
    const response = await fetch(`${harness.baseUrl}/docs`);
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/<html/i);
  });
});
