import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SqliteGroupCommit } from "../../src/db/sqlite-group-commit.ts";
import { openSqliteStore, type SqliteStore } from "../../src/db/sqlite-store.ts";
import { SqliteTaskRepository } from "../../src/db/sqlite-task-repository.ts";
import type { WalSync } from "../../src/db/wal-sync.ts";
import type { Task } from "../../src/domain/tasks/task.ts";
import { storedTask } from "../helpers/tasks.ts";
import { call, MODEL, startTestServer, temporaryDirectory, waitForTerminal, type TaskData, type TestServer } from "../helpers/test-server.ts";

// recordInfo answers the tasks this process wrote last from memory; these pin down that it never
// answers anything the database would not.

let harness: TestServer;
beforeEach(async () => {
  harness = await startTestServer({ SANDBOX_LATENCY_MS: "50" });
});
afterEach(async () => {
  await harness.close();
});

async function createTask(prompt: string, key = harness.key): Promise<string> {
  const answer = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
    key,
    body: { model: MODEL, input: { prompt } },
  });
  expect(answer.status).toBe(200);
  return answer.body.data.taskId;
}

function recordInfo(taskId: string, key = harness.key) {
  return call<TaskData | null>(harness.baseUrl, "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, { key });
}

describe("recordInfo of recently written tasks", () => {
  it("follows every state the task goes through, up to the one the database holds", async () => {
    const taskId = await createTask("a lighthouse at dusk");
    const { states } = await waitForTerminal(harness.baseUrl, harness.key, taskId);
    expect(states.at(-1)).toBe("success");
    expect(states.every((state, index) => index === 0 || ["generating", "success"].includes(state))).toBe(true);
    const last = await recordInfo(taskId);
    const database = new SqliteDatabase(path.join(harness.dataDir, "imagegate.db"), { readonly: true });
    try {
      const row = database.prepare("SELECT state, result_json, update_time FROM tasks WHERE id = ?").get(taskId) as {
        state: string;
        result_json: string;
        update_time: number;
      };
      expect(last.body.data).toMatchObject({ state: row.state, resultJson: row.result_json, updateTime: row.update_time });
    } finally {
      database.close();
    }
  });

  it("shows a change that another process committed to a task it holds", async () => {
    const taskId = await createTask("a fox in the snow");
    await waitForTerminal(harness.baseUrl, harness.key, taskId);
    expect((await recordInfo(taskId)).body.data?.failMsg).toBeNull();
    const other = new SqliteDatabase(path.join(harness.dataDir, "imagegate.db"));
    try {
      other.prepare("UPDATE tasks SET fail_msg = 'set by another process' WHERE id = ?").run(taskId);
    } finally {
      other.close();
    }
    expect((await recordInfo(taskId)).body.data?.failMsg).toBe("set by another process");
  });

  it("answers a record's same text while the task is unchanged, and a new one once it changes", async () => {
    const taskId = await createTask("a kite over the dunes");
    const ask = async () => {
      const response = await fetch(`${harness.baseUrl}/api/v1/jobs/recordInfo?taskId=${taskId}`, {
        headers: { Authorization: `Bearer ${harness.key}` },
      });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
      return response.text();
    };
    const dataOf = (text: string) => (JSON.parse(text) as { data: TaskData }).data;
    const early = await ask();
    expect(dataOf(early).state).not.toBe("success");
    await waitForTerminal(harness.baseUrl, harness.key, taskId);
    const done = await ask();
    expect(dataOf(done)).toMatchObject({ taskId, state: "success" });
    expect(await ask()).toBe(done);

    // A change from another process also makes a new answer.
    const other = new SqliteDatabase(path.join(harness.dataDir, "imagegate.db"));
    try {
      other.prepare("UPDATE tasks SET update_time = update_time + 1 WHERE id = ?").run(taskId);
    } finally {
      other.close();
    }
    expect(dataOf(await ask()).updateTime).toBe(dataOf(done).updateTime + 1);
  });

  it("answers 404 to another account for a task it holds", async () => {
    const strangerKey = await harness.newAccountKey("stranger");
    // That key was written by another connection; a first read lets the server notice, so that the
    // task below is still held in memory when the stranger asks for it.
    expect((await recordInfo("task_none", strangerKey)).status).toBe(404);
    const taskId = await createTask("a private sketch");
    expect((await recordInfo(taskId)).status).toBe(200);
    const answer = await recordInfo(taskId, strangerKey);
    expect(answer.status).toBe(404);
    expect(answer.body.data).toBeNull();
  });
});

/** A queuing task of account acct_1, made at `now`. */
function queuingTask(now: number): Task {
  return storedTask("acct_1", now, { deadlineTime: now + 60_000 });
}

describe("SqliteTaskRepository's recent records", () => {
  let store: SqliteStore;
  beforeEach(async () => {
    store = await openSqliteStore(await temporaryDirectory());
    store.handle.raw.prepare("INSERT INTO accounts (id, name, created_at, credits) VALUES ('acct_1', 'one', 0, 1000000)").run();
  });
  afterEach(async () => {
    await store.close();
  });

  // Changed behind the repository's back on its own connection, which data_version does not
  // report: only an answer from memory still says queuing.
  const changeBehindItsBack = (taskId: string) =>
    store.handle.raw.prepare("UPDATE tasks SET state = 'generating' WHERE id = ?").run(taskId);

  it("answers a task written before the first read from memory, with no read", async () => {
    const task = queuingTask(Date.now());
    expect(await store.tasks.create(task, { activeLimit: 10, price: 1 })).toBe("created");
    changeBehindItsBack(task.id);
    expect((await store.tasks.getRecordForAccount(task.id, "acct_1"))?.state).toBe("queuing");
    expect((await store.tasks.getForAccount(task.id, "acct_1"))?.state).toBe("generating");
  });

  it("keeps the last 20,000 tasks written and reads older ones from the database", async () => {
    const now = Date.now();
    const tasks = Array.from({ length: 20_001 }, (_, index) => queuingTask(now + index));
    for (let start = 0; start < tasks.length; start += 1_000) {
      await Promise.all(tasks.slice(start, start + 1_000).map((task) => store.tasks.create(task, { activeLimit: 1_000_000, price: 1 })));
    }
    const [oldest, second] = tasks;
    if (oldest === undefined || second === undefined) throw new Error("no tasks");
    changeBehindItsBack(oldest.id);
    changeBehindItsBack(second.id);
    expect((await store.tasks.getRecordForAccount(oldest.id, "acct_1"))?.state).toBe("generating");
    expect((await store.tasks.getRecordForAccount(second.id, "acct_1"))?.state).toBe("queuing");
  });

  it("never lets an answer that arrives late replace a newer state", async () => {
    // A group commit whose log flush the test releases by hand, on the same connection.
    const releases: Array<() => void> = [];
    const held: WalSync = { sync: () => new Promise<void>((resolve) => releases.push(resolve)) };
    const tasks = new SqliteTaskRepository(store.handle.raw, new SqliteGroupCommit(store.handle.raw, held));
    const task = queuingTask(Date.now());
    const created = tasks.create(task, { activeLimit: 10, price: 1 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    for (const release of releases.splice(0)) release();
    expect(await created).toBe("created");

    // Started, waiting for the disk; then finished in a later group that waits only for its commit.
    const started = tasks.transition(task.id, ["queuing"], { state: "generating", updateTime: Date.now() });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const finished = await tasks.transition(
      task.id,
      ["generating"],
      { state: "success", resultJson: '{"resultUrls":[]}', completeTime: Date.now(), updateTime: Date.now() },
      "committed",
    );
    expect(finished?.state).toBe("success");
    for (const release of releases.splice(0)) release();
    expect((await started)?.state).toBe("generating");
    expect((await tasks.getRecordForAccount(task.id, "acct_1"))?.state).toBe("success");
  });
});
