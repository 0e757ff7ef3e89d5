import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SANDBOX_MAGIC_WORDS } from "../../src/providers/sandbox/sandbox-image-provider.ts";
import { deleteKeys } from "../helpers/redis.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { call, MODEL, waitForTerminal, type TaskData } from "../helpers/test-server.ts";
import { waitUntil } from "../helpers/wait.ts";

let cluster: TestCluster;
let key: string;
beforeAll(async () => {
  cluster = await TestCluster.start({ env: { SANDBOX_LATENCY_MS: "100" } });
  ({ key } = await cluster.newAccount("outages"));
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

async function createTask(prompt: string): Promise<Awaited<ReturnType<typeof call<{ taskId: string }>>>> {
  return call<{ taskId: string }>(cluster.baseUrl, "POST", "/api/v1/jobs/createTask", { key, body: { model: MODEL, input: { prompt } } });
}

async function readiness(baseUrl: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${baseUrl}/readyz`);
  return { status: response.status, body: await response.json() };
}

async function stateOf(taskId: string): Promise<string> {
  const answer = await call<TaskData>(cluster.baseUrl, "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, { key });
  return answer.body.data.state;
}

/** The upstream calls the workers ended with `outcome`, and the seconds they took together. */
async function upstreamCalls(outcome: string): Promise<{ count: number; seconds: number }> {
  let count = 0;
  let seconds = 0;
  for (const worker of cluster.living("worker")) {
    const text = await (await fetch(`${worker.baseUrl}/metrics`)).text();
    for (const line of text.split("\n")) {
      if (!line.includes(`outcome="${outcome}"`)) continue;
      const value = Number(line.split(" ").at(-1));
      if (line.startsWith("imagegate_upstream_call_duration_seconds_count")) count += value;
      if (line.startsWith("imagegate_upstream_call_duration_seconds_sum")) seconds += value;
    }
  }
  return { count, seconds };
}

describe("a worker process", () => {
  it("answers /healthz, /readyz and /metrics, and no API route", async () => {
    const worker = cluster.living("worker")[0]?.baseUrl ?? "";
    expect((await fetch(`${worker}/healthz`)).status).toBe(200);
    const ready = await readiness(worker);
    expect(ready.status).toBe(200);
    expect(JSON.stringify(ready.body)).toMatch(/provider:sandbox/);
    expect((await fetch(`${worker}/metrics`)).status).toBe(200);
    const refused = await call(worker, "POST", "/api/v1/jobs/createTask", { key, body: { model: MODEL, input: { prompt: "x" } } });
    expect(refused.status).toBe(404);
    expect(refused.body.msg).toBe("There is no route POST /api/v1/jobs/createTask.");
  });
});

describe("a cancel on one API process", () => {
  it("aborts the upstream call on the worker running the task", async () => {
    // Ten times the sandbox's latency: a second, which the abort cuts short.
    const created = await createTask(`${SANDBOX_MAGIC_WORDS.slow} a slow one`);
    const taskId = created.body.data.taskId;
    await waitUntil(async () => (await stateOf(taskId)) === "generating", "the task to start generating");
    const [first, second] = cluster.living("api");
    const canceled = await call<TaskData>(second?.baseUrl ?? "", "POST", "/api/v1/jobs/cancelTask", { key, body: { taskId } });
    expect(canceled.status, JSON.stringify(canceled.body)).toBe(200);
    await waitUntil(async () => (await upstreamCalls("canceled")).count === 1, "the worker to report a canceled upstream call", 5_000);
    expect((await upstreamCalls("canceled")).seconds).toBeLessThan(0.9);
    const record = await call<TaskData>(first?.baseUrl ?? "", "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, { key });
    expect(record.body.data).toMatchObject({ state: "fail", failCode: "CANCELED", creditsConsumed: 0 });
  }, 30_000);
});

describe("a cluster whose PostgreSQL or Redis goes away", () => {
  it("PostgreSQL cut off: requests get a clear 500 envelope and /readyz 503, nothing half-written; service resumes by itself", async () => {
    const before = await cluster.sql.query<{ count: number }>("SELECT count(*)::int AS count FROM tasks");
    cluster.postgresProxy.cut();
    try {
      const refused = await createTask("during the outage");
      expect(refused.status).toBe(500);
      expect(refused.body).toMatchObject({ code: 500, data: null });
      expect(refused.body.msg).toMatch(/request id/);
      for (const member of cluster.living("api")) {
        const ready = await readiness(member.baseUrl);
        expect(ready.status).toBe(503);
        expect(JSON.stringify(ready.body)).toMatch(/database/);
      }
    } finally {
      cluster.postgresProxy.restore();
    }
    const after = await cluster.sql.query<{ count: number }>("SELECT count(*)::int AS count FROM tasks");
    expect(after.rows[0]?.count).toBe(before.rows[0]?.count);

    await waitUntil(async () => (await createTask("after the outage")).status === 200, "createTask to work again", 20_000);
    const created = await createTask("after the outage, again");
    expect((await waitForTerminal(cluster.baseUrl, key, created.body.data.taskId)).record.state).toBe("success");
    for (const member of cluster.living("api")) expect((await readiness(member.baseUrl)).status).toBe(200);
  }, 60_000);

  it("Redis cut off: tasks are accepted and wait; once it is back the reconciler hands them over and they succeed", async () => {
    cluster.redisProxy.cut();
    const taskIds: string[] = [];
    try {
      for (let index = 0; index < 3; index += 1) {
        const created = await createTask(`while Redis is away ${index}`);
        expect(created.status).toBe(200);
        taskIds.push(created.body.data.taskId);
      }
      for (const taskId of taskIds) expect(await stateOf(taskId)).toBe("waiting");
      const ready = await readiness(cluster.living("api")[0]?.baseUrl ?? "");
      expect(ready.status).toBe(503);
      expect(JSON.stringify(ready.body)).toMatch(/redis/);
    } finally {
      cluster.redisProxy.restore();
    }
    for (const taskId of taskIds) {
      expect((await waitForTerminal(cluster.baseUrl, key, taskId, 30_000)).record.state).toBe("success");
    }
  }, 60_000);

  it("Redis loses its data: the queue is rebuilt from the database and no task is lost", async () => {
    // No worker takes the tasks while the queue holds them; then the queue is wiped.
    const workers = cluster.living("worker");
    for (const worker of workers) await cluster.kill(worker);
    const taskIds: string[] = [];
    for (let index = 0; index < 4; index += 1) {
      const created = await createTask(`before Redis forgets ${index}`);
      expect(created.status).toBe(200);
      taskIds.push(created.body.data.taskId);
    }
    for (const taskId of taskIds) expect(await stateOf(taskId)).toBe("queuing");
    await deleteKeys(cluster.redisPrefix);
    for (const worker of workers) await cluster.restart(worker);
    for (const taskId of taskIds) {
      expect((await waitForTerminal(cluster.baseUrl, key, taskId, 30_000)).record.state).toBe("success");
    }
  }, 60_000);
});
