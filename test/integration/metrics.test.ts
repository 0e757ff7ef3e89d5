import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import parsePrometheusTextFormat, { type ParsedFamily, type ParsedSample } from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readServerMetrics } from "../../bench/prometheus.ts";
import { FakeGeminiServer } from "../fakes/fake-gemini-server.ts";
import { call, MODEL, startTestServer, waitForTerminal, type TestServer } from "../helpers/test-server.ts";

/**
 * /metrics of a real server after real work: tasks through the Gemini provider (against the fake
 * upstream, with a retry) and through the sandbox, to success and to failure, callbacks delivered,
 * refused for good and failed to be retried; read over HTTP and parsed by a Prometheus text parser.
 */

const TOKEN = "metrics-token-under-test";
const GEMINI_MODEL_ID = "gemini-image-under-test";

let fake: FakeGeminiServer;
let receiver: Server;
let receiverUrl: string;
let harness: TestServer;
let families: Map<string, ParsedFamily>;
let exposition: string;

/** Answers callbacks by path: /ok 200, /gone 410 (the sender gives up), /down 500 (it retries later). */
async function startReceiver(): Promise<void> {
  receiver = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      const status = request.url?.startsWith("/gone") ? 410 : request.url?.startsWith("/down") ? 500 : 200;
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
}

async function runTask(key: string, prompt: string, callBackUrl?: string): Promise<string> {
  const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
    key,
    body: { model: MODEL, input: { prompt }, ...(callBackUrl === undefined ? {} : { callBackUrl }) },
  });
  expect(created.status).toBe(200);
  const { record } = await waitForTerminal(harness.baseUrl, key, created.body.data.taskId);
  return record.state;
}

async function scrape(headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}` }): Promise<Response> {
  return fetch(`${harness.baseUrl}/metrics`, { headers });
}

/**
 * Families by name. The parser folds a histogram's labelled series into one sample, losing their
 * labels, so its families are read twice: as declared (types, and every line must parse), and with
 * histograms declared untyped, which keeps each `_bucket`, `_sum` and `_count` line with its labels.
 */
function parseExposition(text: string): Map<string, ParsedFamily> {
  const declared = parsePrometheusTextFormat(text);
  const families = new Map<string, ParsedFamily>();
  // prom-client writes each series' buckets, sum and count together, so a `_count` name recurs.
  for (const parsed of parsePrometheusTextFormat(text.replace(/^(# TYPE \S+) histogram$/gm, "$1 untyped"))) {
    const known = families.get(parsed.name);
    if (known === undefined) families.set(parsed.name, { ...parsed, metrics: [...parsed.metrics] });
    else known.metrics.push(...parsed.metrics);
  }
  for (const parsed of declared) families.set(parsed.name, { ...parsed, metrics: families.get(parsed.name)?.metrics ?? parsed.metrics });
  return families;
}

function family(name: string): ParsedFamily {
  const found = families.get(name);
  if (found === undefined) throw new Error(`no family ${name} in /metrics`);
  return found;
}

/** The samples of a family whose labels include these. */
function samples(name: string, labels: Record<string, string>): ParsedSample[] {
  return family(name).metrics.filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value));
}

/** The one sample of a family with these labels; a histogram's is its `_count`. */
function valueOf(name: string, labels: Record<string, string>): number {
  const sampled = family(name).type === "HISTOGRAM" ? `${name}_count` : name;
  const found = samples(sampled, labels);
  if (found.length !== 1) throw new Error(`${found.length} samples of ${sampled} match ${JSON.stringify(labels)}`);
  return Number(found[0]?.value);
}

async function callbackAttempts(): Promise<Record<string, number>> {
  const text = await (await scrape()).text();
  const parsed = parsePrometheusTextFormat(text).find((entry) => entry.name === "imagegate_callback_deliveries_total");
  return Object.fromEntries((parsed?.metrics ?? []).map((sample) => [sample.labels?.outcome ?? "", Number(sample.value)]));
}

beforeAll(async () => {
  fake = await FakeGeminiServer.start({ models: [GEMINI_MODEL_ID] });
  await startReceiver();
  harness = await startTestServer({
    GEMINI_API_KEY: "metrics-gemini-key",
    GEMINI_BASE_URL: fake.url,
    GEMINI_MODEL: GEMINI_MODEL_ID,
    GEMINI_MAX_ATTEMPTS: "3",
    CALLBACK_ALLOW_PRIVATE: "true",
    METRICS_TOKEN: TOKEN,
  });
  const testKey = await harness.newAccountKey("sandbox-user", "test");
  // Gemini: rate limited once (retried at once, as the upstream asks), then an image.
  expect(await runTask(harness.key, "a metered lighthouse [gemini:429:0sx1]", `${receiverUrl}/ok`)).toBe("success");
  // Gemini: a request the upstream rejects, not retried.
  expect(await runTask(harness.key, "a metered refusal [gemini:400]", `${receiverUrl}/gone`)).toBe("fail");
  // The sandbox serves test-mode keys, to success and to failure.
  expect(await runTask(testKey, "a metered sandbox picture")).toBe("success");
  expect(await runTask(testKey, "a metered sandbox failure [sandbox:fail]", `${receiverUrl}/down`)).toBe("fail");
  // Labels must carry no task id, query string or raw path.
  await call(harness.baseUrl, "GET", "/api/v1/jobs/recordInfo?taskId=task_not_a_label", { key: harness.key });
  await fetch(`${harness.baseUrl}/nope/123?secret=1`);
  const until = Date.now() + 10_000;
  for (;;) {
    const attempts = await callbackAttempts();
    if ((attempts.delivered ?? 0) >= 1 && (attempts.gave_up ?? 0) >= 1 && (attempts.retrying ?? 0) >= 1) break;
    if (Date.now() > until) throw new Error(`callbacks not all attempted: ${JSON.stringify(attempts)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  exposition = await (await scrape()).text();
  families = parseExposition(exposition);
});

afterAll(async () => {
  await harness.close();
  await fake.close();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

describe("/metrics after tasks and callbacks", () => {
  it("answers in the registry's content type", async () => {
    const response = await scrape();
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  });

  it("has the default process and Node.js metrics", () => {
    expect(family("process_cpu_user_seconds_total").type).toBe("COUNTER");
    expect(family("process_resident_memory_bytes").type).toBe("GAUGE");
    expect(family("nodejs_eventloop_lag_seconds").type).toBe("GAUGE");
    expect(family("nodejs_eventloop_lag_p99_seconds").type).toBe("GAUGE");
    expect(family("nodejs_heap_size_used_bytes").type).toBe("GAUGE");
  });

  it("times HTTP requests by method, route pattern and status", () => {
    expect(family("http_request_duration_seconds").type).toBe("HISTOGRAM");
    expect(valueOf("http_request_duration_seconds", { method: "POST", route: "/api/v1/jobs/createTask", status_code: "200" })).toBe(4);
    expect(valueOf("http_request_duration_seconds", { method: "GET", route: "/api/v1/jobs/recordInfo", status_code: "200" })).toBeGreaterThan(4);
    expect(samples("http_request_duration_seconds_bucket", { route: "/api/v1/jobs/createTask", le: "+Inf" })).toHaveLength(1);
    expect(valueOf("http_request_duration_seconds", { method: "GET", route: "unmatched", status_code: "404" })).toBe(1);
  });

  it("labels no sample with a task id, a query string or a raw path", () => {
    const routes = new Set(family("http_request_duration_seconds_count").metrics.map((sample) => sample.labels?.route));
    expect([...routes].sort()).toEqual(["/api/v1/jobs/createTask", "/api/v1/jobs/recordInfo", "/metrics", "unmatched"]);
    const labelValues = [...families.values()].flatMap((parsed) => parsed.metrics.flatMap((sample) => Object.values(sample.labels ?? {})));
    expect(labelValues.length).toBeGreaterThan(100);
    expect(labelValues.filter((value) => /task_|\?|nope|secret/.test(value))).toEqual([]);
  });

  it("counts tasks created and settled by model, state and failCode, and times them", () => {
    expect(valueOf("imagegate_tasks_created_total", { model: MODEL })).toBe(4);
    expect(valueOf("imagegate_tasks_settled_total", { model: MODEL, state: "success" })).toBe(2);
    expect(valueOf("imagegate_tasks_settled_total", { model: MODEL, state: "fail", fail_code: "PROVIDER_ERROR" })).toBe(2);
    expect(family("imagegate_tasks_settled_total").metrics).toHaveLength(2);
    expect(family("imagegate_task_duration_seconds").type).toBe("HISTOGRAM");
    expect(valueOf("imagegate_task_duration_seconds", { model: MODEL, state: "success" })).toBe(2);
    expect(valueOf("imagegate_task_duration_seconds", { model: MODEL, state: "fail" })).toBe(2);
  });

  it("counts every upstream attempt, retries included, by provider, model and outcome", () => {
    const upstream = "imagegate_upstream_call_duration_seconds";
    expect(family(upstream).type).toBe("HISTOGRAM");
    expect(valueOf(upstream, { provider: "gemini", model: MODEL, outcome: "retryable_error" })).toBe(1);
    expect(valueOf(upstream, { provider: "gemini", model: MODEL, outcome: "success" })).toBe(1);
    expect(valueOf(upstream, { provider: "gemini", model: MODEL, outcome: "provider_error" })).toBe(1);
    expect(valueOf(upstream, { provider: "sandbox", model: MODEL, outcome: "success" })).toBe(1);
    expect(valueOf(upstream, { provider: "sandbox", model: MODEL, outcome: "provider_error" })).toBe(1);
    expect(family(`${upstream}_count`).metrics).toHaveLength(5);
  });

  it("shows the queue and counts callback attempts by outcome", () => {
    expect(valueOf("imagegate_tasks_running", {})).toBe(0);
    expect(valueOf("imagegate_tasks_waiting", {})).toBe(0);
    expect(valueOf("imagegate_tasks_running_peak", {})).toBeGreaterThanOrEqual(1);
    expect(valueOf("imagegate_callback_deliveries_total", { outcome: "delivered" })).toBe(1);
    expect(valueOf("imagegate_callback_deliveries_total", { outcome: "gave_up" })).toBe(1);
    expect(valueOf("imagegate_callback_deliveries_total", { outcome: "retrying" })).toBeGreaterThanOrEqual(1);
  });

  it("keeps the database's commit and sync figures", () => {
    expect(valueOf("imagegate_database_commits_total", {})).toBeGreaterThan(0);
    expect(valueOf("imagegate_database_syncs_total", {})).toBeGreaterThan(0);
    expect(family("imagegate_database_sync_seconds_total").type).toBe("COUNTER");
    expect(family("imagegate_database_log_frames").type).toBe("GAUGE");
  });

  it("gives the benchmarks every figure they read", () => {
    const read = readServerMetrics(exposition);
    expect(read.residentMemoryBytes).toBeGreaterThan(0);
    expect(read.eventLoopDelayP99Seconds).toBeGreaterThan(0);
    expect(valueOf("imagegate_event_loop_delay_seconds", { quantile: "0.99" })).toBe(read.eventLoopDelayP99Seconds);
    expect(read.eventLoopDelayMaxSeconds).toBeGreaterThanOrEqual(read.eventLoopDelayP99Seconds);
    expect(read).toMatchObject({ tasksRunning: 0, tasksWaiting: 0, tasksCreated: 4, tasksSucceeded: 2, tasksFailed: 2 });
    expect(read.tasksRunningPeak).toBeGreaterThanOrEqual(1);
    expect(read.databaseSyncs).toBeGreaterThan(0);
    expect(read.databaseSyncSeconds).toBeGreaterThanOrEqual(0);
    for (const name of [
      "imagegate_database_checkpoints_total",
      "imagegate_database_log_restart_checkpoints_total",
      "imagegate_database_log_restart_checkpoint_seconds_total",
    ]) {
      expect(family(name).metrics).toHaveLength(1);
    }
  });
});

describe("METRICS_TOKEN", () => {
  it("answers 401 in the envelope, asking for Bearer, without a token", async () => {
    const response = await scrape({});
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="imagegate-metrics"');
    expect(await response.json()).toEqual({
      code: 401,
      msg: "Authentication failed: send the header Authorization: Bearer <METRICS_TOKEN>.",
      data: null,
    });
  });

  it("answers 401 to a wrong token", async () => {
    const response = await scrape({ Authorization: `Bearer ${TOKEN}-not` });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="imagegate-metrics"');
    expect(await response.json()).toEqual({ code: 401, msg: "Authentication failed: the metrics token is not valid.", data: null });
  });

  it("answers 200 to the right token", async () => {
    const response = await scrape({ Authorization: `Bearer ${TOKEN}` });
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/^# HELP /);
  });

  it("leaves /metrics open when unset", async () => {
    const open = await startTestServer();
    try {
      const response = await fetch(`${open.baseUrl}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get("www-authenticate")).toBeNull();
      expect(parsePrometheusTextFormat(await response.text()).map((parsed) => parsed.name)).toContain("http_request_duration_seconds");
    } finally {
      await open.close();
    }
  });
});
