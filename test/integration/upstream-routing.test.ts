import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli/main.ts";
import type { UpstreamReport } from "../../src/providers/routing/upstream-routing.ts";
import { FakeGeminiServer } from "../fakes/fake-gemini-server.ts";
import { call, freePort, startTestServer, temporaryDirectory, waitForTerminal, type TaskData, type TestServer } from "../helpers/test-server.ts";

/**
 * UPSTREAMS_FILE through the real server: three Gemini upstreams for nano-banana-pro, the first
 * down (nothing listens on its port), the second slow, the third refusing every prompt. Tasks
 * succeed through the second; the first's circuit opens and keeps tasks off it until one probe
 * after the cool-down; once the first is back the probe closes its circuit and traffic returns.
 */

const ADMIN_KEY = "admin-key-of-the-routing-test-0123456789";
const COOL_DOWN_MS = 3_000;
const PRO = "nano-banana-pro";

interface UpstreamsAnswer {
  process: { pid: number; role: string; runsTasks: boolean };
  source: string;
  upstreams: UpstreamReport[];
  routes: { model: string; policy: string; upstreams: string[] }[];
}

let downPort: number;
let slow: FakeGeminiServer;
let refusing: FakeGeminiServer;
let revived: FakeGeminiServer | null = null;
let harness: TestServer;

function upstreamsFile(first: string, second: string, third: string): string {
  return `# three Gemini upstreams for ${PRO}
breaker:
  consecutiveFailures: 2
  coolDownMs: ${COOL_DOWN_MS}
upstreams:
  - name: first
    kind: gemini
    apiKey: \${ROUTING_TEST_KEY}
    baseUrl: ${first}
    price: 0.134
  - name: second
    kind: gemini
    apiKey: \${ROUTING_TEST_KEY}
    baseUrl: ${second}
    maxAttempts: 1
    maxConcurrency: 4
    breaker:
      consecutiveFailures: 10
  - name: third
    kind: gemini
    apiKey: \${ROUTING_TEST_KEY}
    baseUrl: ${third}
routes:
  ${PRO}:
    upstreams: [first, second, third]
  "*":
    upstreams: [second]
`;
}

beforeAll(async () => {
  downPort = await freePort();
  slow = await FakeGeminiServer.start({ latencyMs: 250 });
  refusing = await FakeGeminiServer.start({ defaultAnswer: { kind: "blocked", blockReason: "PROHIBITED_CONTENT" } });
  const directory = await temporaryDirectory("imagegate-routing-");
  const file = path.join(directory, "upstreams.yaml");
  await writeFile(file, upstreamsFile(`http://127.0.0.1:${downPort}`, slow.url, refusing.url));
  harness = await startTestServer({ UPSTREAMS_FILE: file, ROUTING_TEST_KEY: "routing-test-key", ADMIN_API_KEY: ADMIN_KEY });
});

afterAll(async () => {
  await harness.close();
  await slow.close();
  await refusing.close();
  await revived?.close();
});

async function runTask(model: string, prompt: string, key = harness.key): Promise<{ record: TaskData; states: string[] }> {
  const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", { key, body: { model, input: { prompt } } });
  expect(created.status).toBe(200);
  return waitForTerminal(harness.baseUrl, key, created.body.data.taskId, 30_000);
}

async function upstreams(): Promise<UpstreamsAnswer> {
  const answer = await call<UpstreamsAnswer>(harness.baseUrl, "GET", "/admin/v1/upstreams", { key: ADMIN_KEY });
  expect(answer.status).toBe(200);
  return answer.body.data;
}

async function upstream(name: string): Promise<UpstreamReport> {
  const found = (await upstreams()).upstreams.find((each) => each.name === name);
  if (found === undefined) throw new Error(`no upstream ${name}`);
  return found;
}

describe("routing over three Gemini upstreams", () => {
  it("serves through the slow second upstream while the first is down, with the records and charge of a direct task", async () => {
    const key = await harness.newAccountKey("routing-paying", "live", 1_000);
    const account = await harness.server.accounts.findAccount("routing-paying");
    const accountId = account?.id ?? "";

    const routed = await runTask(PRO, "a lighthouse at dusk", key);
    const direct = await runTask("nano-banana-2", "a lighthouse at dawn", key);

    expect(routed.record).toMatchObject({ model: PRO, state: "success", failCode: null, failMsg: null });
    expect(Object.keys(routed.record).sort()).toEqual(Object.keys(direct.record).sort());
    expect(routed.states).toEqual(direct.states);
    expect(JSON.parse(routed.record.resultJson ?? "{}")).toMatchObject({ resultUrls: [expect.any(String)] });
    // Charged once, for the one image, though three upstream attempts were made.
    const spent = routed.record.creditsConsumed + direct.record.creditsConsumed;
    expect(routed.record.creditsConsumed).toBeGreaterThan(0);
    expect(await harness.server.accounts.balance(accountId)).toBe(1_000 - spent);
    expect(await harness.server.accounts.ledgerSum(accountId)).toBe(1_000 - spent);
    expect(slow.requests.filter((request) => request.prompt === "a lighthouse at dusk")).toHaveLength(1);
    expect(refusing.requests).toHaveLength(0);

    const first = await upstream("first");
    expect(first).toMatchObject({ attempts: 2, tasksFailed: 1, tasksServed: 0, price: 0.134, circuit: { state: "open" } });
    expect(first.outcomes.retryable_error).toBe(2);
  });

  it("keeps tasks off the open circuit without calling it, and /readyz stays ready", async () => {
    const before = await upstream("first");
    const records = await Promise.all([1, 2, 3].map((index) => runTask(PRO, `a quiet harbour ${index}`)));
    expect(records.map((each) => each.record.state)).toEqual(["success", "success", "success"]);

    const after = await upstream("first");
    expect(after.circuit?.state).toBe("open");
    expect(after.attempts).toBe(before.attempts);
    expect(after.tasksSkipped - before.tasksSkipped).toBe(3);

    const ready = await call<{ checks: { name: string; ok: boolean; circuit?: string; informational?: boolean }[] }>(harness.baseUrl, "GET", "/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body.data.checks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "routes", ok: true }),
        expect.objectContaining({ name: "upstream:first", ok: false, circuit: "open", informational: true }),
        expect.objectContaining({ name: "upstream:second", ok: true, circuit: "closed" }),
      ]),
    );
  });

  it("does not fall back past a refusal: the third upstream's CONTENT_POLICY fails the task and releases its hold", async () => {
    const key = await harness.newAccountKey("routing-refused", "live", 1_000);
    const account = await harness.server.accounts.findAccount("routing-refused");
    slow.enqueue({ kind: "status", status: 503 });

    const { record } = await runTask(PRO, "a storm over the sea", key);

    expect(record).toMatchObject({ state: "fail", failCode: "CONTENT_POLICY" });
    expect(refusing.requests.filter((request) => request.prompt === "a storm over the sea")).toHaveLength(1);
    expect(await harness.server.accounts.balance(account?.id ?? "")).toBe(1_000);
    expect(await upstream("third")).toMatchObject({ attempts: 1, tasksFailed: 1, outcomes: { content_policy: 1 }, circuit: { state: "closed" } });
  });

  it("probes the first upstream once its cool-down ends, and sends traffic back once the probe succeeds", async () => {
    // The first comes back on its port; until the cool-down ends it gets no request at all.
    revived = await FakeGeminiServer.start({ port: downPort });
    const { circuit } = await upstream("first");
    expect(circuit?.state).toBe("open");
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, (circuit?.nextProbeAt ?? 0) - Date.now() + 50)));
    expect(revived.requests).toHaveLength(0);
    expect((await upstream("first")).circuit?.state).toBe("half-open");

    const probe = await runTask(PRO, "a field of sunflowers");
    expect(probe.record.state).toBe("success");
    expect(revived.requests.map((request) => request.prompt)).toEqual(["a field of sunflowers"]);
    expect((await upstream("first")).circuit?.state).toBe("closed");

    const slowBefore = slow.requests.length;
    await runTask(PRO, "a field of poppies");
    expect(revived.requests).toHaveLength(2);
    expect(slow.requests.length).toBe(slowBefore);
    expect(await upstream("first")).toMatchObject({ tasksServed: 2, inFlight: 0, latencyMs: { p50: expect.any(Number), p99: expect.any(Number) } });
  });

  it("shows each upstream's figures in GET /admin/v1/upstreams and /metrics", async () => {
    const answer = await upstreams();
    expect(answer).toMatchObject({ source: "UPSTREAMS_FILE", process: { pid: process.pid, role: "all", runsTasks: true } });
    expect(answer.upstreams.map((each) => each.name)).toEqual(["first", "second", "third"]);
    expect(answer.routes).toContainEqual({ model: PRO, policy: "failover", upstreams: ["first", "second", "third"] });
    expect(answer.routes).toContainEqual({ model: "nano-banana-2", policy: "failover", upstreams: ["second"] });
    const second = answer.upstreams[1];
    expect(second).toMatchObject({ kind: "gemini", maxConcurrency: 4, price: null, circuit: { state: "closed" }, tasksServed: 5, tasksFailed: 1 });
    expect(second?.models[PRO]).toBe("gemini-3-pro-image");

    const metrics = await (await fetch(`${harness.baseUrl}/metrics`)).text();
    expect(metrics).toContain('imagegate_upstream_circuit_state{upstream="first"} 0');
    expect(metrics).toContain('imagegate_upstream_circuit_state{upstream="second"} 0');
    expect(metrics).toContain('imagegate_upstream_tasks_total{upstream="second",result="served"} 5');
    expect(metrics).toContain('imagegate_upstream_tasks_total{upstream="first",result="skipped"} 4');
    expect(metrics).toContain('imagegate_upstream_max_concurrency{upstream="second"} 4');
    expect(metrics).toContain('imagegate_upstream_in_flight{upstream="first"} 0');
    expect(metrics).toMatch(/imagegate_upstream_call_duration_seconds_count\{provider="first",model="nano-banana-pro",outcome="retryable_error"\} 2/);
  });

  it("prints them as a table with `imagegate upstreams`, through the admin API", async () => {
    const lines: string[] = [];
    const terminal = { out: (line: string) => void lines.push(line), err: (line: string) => void lines.push(line), write: () => true };
    await buildProgram({ IMAGEGATE_BASE_URL: harness.baseUrl, ADMIN_API_KEY: ADMIN_KEY }, terminal).parseAsync(["upstreams"], { from: "user" });

    expect(lines[0]).toMatch(/^NAME\s+KIND\s+CIRCUIT\s+IN FLIGHT\s+SERVED\s+FAILED\s+SKIPPED\s+ATTEMPTS\s+P50 MS\s+P99 MS\s+PRICE\s+NOT SUCCESS$/);
    expect(lines[1]).toMatch(/^first\s+gemini\s+closed\s+0\/16\s+2\s+1\s+4\s+4\s+\d+\s+\d+\s+\$0\.134\s+retryable_error 2$/);
    expect(lines[3]).toMatch(/^third\s+gemini\s+closed\s+0\/16\s+0\s+1\s+0\s+1\s+-\s+-\s+-\s+content_policy 1$/);
    expect(lines.at(-1)).toMatch(/^figures of .* pid \d+ \(role all\), since it started; upstreams from UPSTREAMS_FILE$/);

    const refused: string[] = [];
    const failing = { out: (line: string) => void refused.push(line), err: (line: string) => void refused.push(line), write: () => true };
    await expect(
      buildProgram({ IMAGEGATE_BASE_URL: harness.baseUrl, ADMIN_API_KEY: "not-the-admin-key-of-this-server" }, failing).parseAsync(["upstreams"], { from: "user" }),
    ).rejects.toThrow(/answered 401/);
  });
});

describe("GET /admin/v1/upstreams without UPSTREAMS_FILE", () => {
  it("answers the sandbox's empty list, and the Gemini upstreams of the GEMINI_* variables without circuits", async () => {
    const sandbox = await startTestServer({ ADMIN_API_KEY: ADMIN_KEY });
    const gemini = await startTestServer({ ADMIN_API_KEY: ADMIN_KEY, GEMINI_API_KEY: "k", GEMINI_BASE_URL: slow.url, GEMINI_FALLBACK_BASE_URL: refusing.url });
    try {
      const empty = await call<UpstreamsAnswer>(sandbox.baseUrl, "GET", "/admin/v1/upstreams", { key: ADMIN_KEY });
      expect(empty.body.data).toMatchObject({ source: "sandbox", upstreams: [], routes: [] });
      const unauthorized = await call(sandbox.baseUrl, "GET", "/admin/v1/upstreams", { key: "wrong" });
      expect(unauthorized.status).toBe(401);

      const created = await call<{ taskId: string }>(gemini.baseUrl, "POST", "/api/v1/jobs/createTask", {
        key: gemini.key,
        body: { model: PRO, input: { prompt: "a figure counted without UPSTREAMS_FILE" } },
      });
      await waitForTerminal(gemini.baseUrl, gemini.key, created.body.data.taskId, 30_000);
      const legacy = await call<UpstreamsAnswer>(gemini.baseUrl, "GET", "/admin/v1/upstreams", { key: ADMIN_KEY });
      expect(legacy.body.data.source).toBe("GEMINI_*");
      expect(legacy.body.data.upstreams.map((each) => [each.name, each.circuit])).toEqual([
        ["gemini", null],
        ["gemini-fallback", null],
      ]);
      expect(legacy.body.data.upstreams[0]).toMatchObject({ tasksServed: 1, attempts: 1, outcomes: { success: 1 } });
    } finally {
      await sandbox.close();
      await gemini.close();
    }
  });
});
