import { readdir, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { ATTEMPTS_SPENT_MESSAGE } from "../../src/providers/retrying-image-provider.ts";
import { FakeGeminiServer } from "../fakes/fake-gemini-server.ts";
import { demoKeyOf, startServerProcess, type ServerProcess } from "../helpers/server-process.ts";
import { call, freePort, MODEL, statusOf, temporaryDirectory, waitForTerminal, type TaskData } from "../helpers/test-server.ts";

const running: ServerProcess[] = [];
const directories: string[] = [];
const closers: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  for (const server of running.splice(0)) {
    if (server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill("SIGKILL");
      await server.exited;
    }
  }
  for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true });
});

async function start(dataDir: string, port: number, env: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServerProcess({ DATA_DIR: dataDir, ...env }, port);
  running.push(server);
  return server;
}


async function createTasks(baseUrl: string, key: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const answer = await call<{ taskId: string }>(baseUrl, "POST", "/api/v1/jobs/createTask", {
      key,
      body: { model: MODEL, input: { prompt: `crash test ${index}`, image_size: "1:1" } },
    });
    expect(answer.status).toBe(200);
    ids.push(answer.body.data.taskId);
  }
  return ids;
}

async function states(baseUrl: string, key: string, ids: string[]): Promise<TaskData[]> {
  return Promise.all(
    ids.map(async (taskId) => (await call<TaskData>(baseUrl, "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, { key })).body.data),
  );
}

/** A callback receiver on 127.0.0.1 that answers 200 and keeps every body it gets. */
async function startReceiver(): Promise<{ url: string; bodies: string[] }> {
  const bodies: string[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      bodies.push(Buffer.concat(chunks).toString("utf8"));
      response.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies };
}

async function resultFiles(dataDir: string): Promise<string[]> {
  const root = path.join(dataDir, "results");
  const days = await readdir(root).catch(() => [] as string[]);
  const files: string[] = [];
  for (const day of days) {
    for (const name of await readdir(path.join(root, day))) if (/^task_\w+\.(png|jpg)$/.test(name)) files.push(name);
  }
  return files;
}

describe("crash recovery with a real process", () => {
  it("resumes every task after SIGKILL mid-generation; each settles exactly once", async () => {
    const dataDir = await temporaryDirectory();
    directories.push(dataDir);
    const port = await freePort();
    const first = await start(dataDir, port, { SANDBOX_LATENCY_MS: "1500", WORKER_CONCURRENCY: "4" });
    const key = demoKeyOf(first.output());
    const ids = await createTasks(first.baseUrl, key, 10);
    // Wait until workers are inside the upstream call, then kill without warning.
    const until = Date.now() + 10_000;
    while (!(await states(first.baseUrl, key, ids)).some((task) => task.state === "generating")) {
      if (Date.now() > until) throw new Error("no task reached generating");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    first.child.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");
    const before = await (async () => {
      const second = await start(dataDir, port, { SANDBOX_LATENCY_MS: "100", WORKER_CONCURRENCY: "4" });
      expect(second.output()).not.toMatch(/ig_live_/);
      const finals = await Promise.all(ids.map((taskId) => waitForTerminal(second.baseUrl, key, taskId, 30_000)));
      return { second, finals: finals.map((final) => final.record) };
    })();
    for (const record of before.finals) {
      expect(record.state).toBe("success");
      expect(record.costTime).toBe((record.completeTime ?? 0) - record.createTime);
    }
    // One file per task: no task was generated and kept twice.
    const files = await resultFiles(dataDir);
    expect(files.sort()).toEqual(ids.map((taskId) => `${taskId}.png`).sort());
    // Settled once: nothing moves any more.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const later = await states(before.second.baseUrl, key, ids);
    expect(later.map((task) => [task.state, task.completeTime, task.resultJson])).toEqual(
      before.finals.map((task) => [task.state, task.completeTime, task.resultJson]),
    );
    for (const task of later) {
      const url = (JSON.parse(task.resultJson ?? "{}") as { resultUrls: string[] }).resultUrls[0] ?? "";
      expect(await statusOf(url)).toBe(200);
    }
  }, 60_000);

  it("fails with TIMEOUT the tasks whose deadline passed while the server was down", async () => {
    const dataDir = await temporaryDirectory();
    directories.push(dataDir);
    const port = await freePort();
    const first = await start(dataDir, port, { SANDBOX_LATENCY_MS: "60000", TASK_TIMEOUT_MS: "1500" });
    const key = demoKeyOf(first.output());
    const [taskId = ""] = await createTasks(first.baseUrl, key, 1);
    first.child.kill("SIGKILL");
    await first.exited;
    await new Promise((resolve) => setTimeout(resolve, 1600));
    const second = await start(dataDir, port, { SANDBOX_LATENCY_MS: "10", TASK_TIMEOUT_MS: "1500" });
    const { record } = await waitForTerminal(second.baseUrl, key, taskId);
    expect(record).toMatchObject({ state: "fail", failCode: "TIMEOUT" });
  }, 60_000);

  it("on SIGTERM stops accepting, lets running tasks finish, and exits 0", async () => {
    const dataDir = await temporaryDirectory();
    directories.push(dataDir);
    const port = await freePort();
    const first = await start(dataDir, port, { SANDBOX_LATENCY_MS: "800", SHUTDOWN_GRACE_MS: "10000" });
    const key = demoKeyOf(first.output());
    const ids = await createTasks(first.baseUrl, key, 3);
    while (!(await states(first.baseUrl, key, ids)).every((task) => task.state === "generating")) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    const second = await start(dataDir, port, { SANDBOX_LATENCY_MS: "60000" });
    const finals = await states(second.baseUrl, key, ids);
    expect(finals.map((task) => task.state)).toEqual(["success", "success", "success"]);
  }, 60_000);

  it("on SIGTERM leaves tasks that outlive the grace period for the next start", async () => {
    const dataDir = await temporaryDirectory();
    directories.push(dataDir);
    const port = await freePort();
    const first = await start(dataDir, port, { SANDBOX_LATENCY_MS: "60000", SHUTDOWN_GRACE_MS: "200" });
    const key = demoKeyOf(first.output());
    const [taskId = ""] = await createTasks(first.baseUrl, key, 1);
    while ((await states(first.baseUrl, key, [taskId]))[0]?.state !== "generating") {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    const second = await start(dataDir, port, { SANDBOX_LATENCY_MS: "50" });
    const { record } = await waitForTerminal(second.baseUrl, key, taskId);
    expect(record.state).toBe("success");
  }, 60_000);

  it("spends GEMINI_MAX_ATTEMPTS upstream calls in all across SIGKILLs during each call, then fails the task with PROVIDER_ERROR", async () => {
    const maxAttempts = 3;
    const dataDir = await temporaryDirectory();
    directories.push(dataDir);
    const port = await freePort();
    // Every call hangs: each run is killed while its call is at the upstream.
    const fake = await FakeGeminiServer.start({ defaultAnswer: { kind: "hang" } });
    closers.push(() => fake.close());
    const receiver = await startReceiver();
    const env = {
      GEMINI_API_KEY: "crash-test-key",
      GEMINI_BASE_URL: fake.url,
      GEMINI_MAX_ATTEMPTS: String(maxAttempts),
      GEMINI_TIMEOUT_MS: "60000",
      CALLBACK_ALLOW_PRIVATE: "true",
    };
    let server = await start(dataDir, port, env);
    const key = demoKeyOf(server.output());
    const creditsBefore = (await call<number>(server.baseUrl, "GET", "/api/v1/chat/credit", { key })).body.data;
    const prompt = "killed during every upstream call";
    const created = await call<{ taskId: string }>(server.baseUrl, "POST", "/api/v1/jobs/createTask", {
      key,
      body: { model: MODEL, input: { prompt }, callBackUrl: receiver.url },
    });
    expect(created.status).toBe(200);
    const { taskId } = created.body.data;
    expect((await call<number>(server.baseUrl, "GET", "/api/v1/chat/credit", { key })).body.data).toBeLessThan(creditsBefore);

    for (let run = 1; run <= maxAttempts; run += 1) {
      const until = Date.now() + 15_000;
      while (fake.requests.length < run) {
        if (Date.now() > until) throw new Error(`run ${run} made no upstream call`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      server.child.kill("SIGKILL");
      expect(await server.exited).toBe("SIGKILL");
      server = await start(dataDir, port, env);
    }

    const { record } = await waitForTerminal(server.baseUrl, key, taskId, 15_000);
    expect(record).toMatchObject({ state: "fail", failCode: "PROVIDER_ERROR", failMsg: ATTEMPTS_SPENT_MESSAGE, resultJson: null });
    expect(fake.requests.map((request) => request.prompt)).toEqual(Array.from({ length: maxAttempts }, () => prompt));
    expect((await call<number>(server.baseUrl, "GET", "/api/v1/chat/credit", { key })).body.data).toBe(creditsBefore);
    const until = Date.now() + 10_000;
    while (receiver.bodies.length === 0) {
      if (Date.now() > until) throw new Error("no callback arrived");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Once: nothing more arrives, and no further upstream call is made.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const recordInfo = await fetch(`${server.baseUrl}/api/v1/jobs/recordInfo?taskId=${taskId}`, {
      headers: { Authorization: `Bearer ${key}` },
    });
    expect(receiver.bodies).toEqual([await recordInfo.text()]);
    expect(fake.requests).toHaveLength(maxAttempts);
  }, 120_000);

  it("keeps the ledger balanced through SIGKILLs at random moments, settlement included", async () => {
    const dataDir = await temporaryDirectory();
    directories.push(dataDir);
    const port = await freePort();
    const env = { SANDBOX_LATENCY_MS: "40", WORKER_CONCURRENCY: "8", DEMO_CREDITS: "1000" };
    let server = await start(dataDir, port, env);
    const key = demoKeyOf(server.output());
    const ids: string[] = [];
    for (let round = 0; round < 5; round += 1) {
      const created = await Promise.all(
        Array.from({ length: 16 }, async (_, index) => {
          const prompt = index % 4 === 0 ? `round ${round} [sandbox:fail]` : `round ${round} task ${index}`;
          const answer = await call<{ taskId: string }>(server.baseUrl, "POST", "/api/v1/jobs/createTask", {
            key,
            body: { model: MODEL, input: { prompt } },
          });
          expect(answer.status).toBe(200);
          return answer.body.data.taskId;
        }),
      );
      ids.push(...created);
      // Kill while tasks are anywhere between queuing and settled.
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.floor(Math.random() * 150)));
      server.child.kill("SIGKILL");
      await server.exited;
      server = await start(dataDir, port, env);
    }
    const finals = await Promise.all(ids.map((taskId) => waitForTerminal(server.baseUrl, key, taskId, 30_000)));
    server.child.kill("SIGKILL");
    await server.exited;

    const database = new SqliteDatabase(path.join(dataDir, "imagegate.db"), { readonly: true });
    try {
      const account = database.prepare("SELECT id, credits, active_tasks AS activeTasks FROM accounts WHERE name = 'demo'").get() as {
        id: string;
        credits: number;
        activeTasks: number;
      };
      // The active-task counter moved with every create and settle: nothing is left counted.
      expect(account.activeTasks).toBe(0);
      const entries = database
        .prepare("SELECT task_id AS taskId, kind, amount FROM credit_ledger WHERE account_id = ? AND task_id IS NOT NULL")
        .all(account.id) as { taskId: string; kind: string; amount: number }[];
      const successes = finals.filter((final) => final.record.state === "success").length;
      expect(successes).toBeGreaterThan(0);
      expect(finals.length - successes).toBeGreaterThan(0);
      for (const { record } of finals) {
        const kinds = entries.filter((entry) => entry.taskId === record.taskId).map((entry) => entry.kind).sort();
        expect(kinds).toEqual(record.state === "success" ? ["capture", "hold"] : ["hold", "release"]);
        if (record.state === "fail") expect(record.failCode).toBe("PROVIDER_ERROR");
      }
      const sum = database.prepare("SELECT sum(amount) AS total FROM credit_ledger WHERE account_id = ?").get(account.id) as { total: number };
      expect(account.credits).toBe(1000 - 4 * successes);
      expect(sum.total).toBe(account.credits);
    } finally {
      database.close();
    }
  }, 120_000);
});
