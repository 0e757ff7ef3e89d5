import type { Kysely } from "kysely";
import type { Database } from "../../src/db/schema.ts";
import { newId } from "../../src/domain/ids.ts";
import type { Task } from "../../src/domain/tasks/task.ts";
import { toTaskRow } from "../../src/db/task-rows.ts";
import { MODEL } from "./test-server.ts";

/**
 * A task as TaskService would store it, made at `at` for `accountId`, for tests that write tasks
 * through a repository directly; `changes` set whatever the test is about.
 */
export function storedTask(accountId: string, at: number, changes: Partial<Task> = {}): Task {
  return {
    id: newId("task", at),
    accountId,
    apiKeyId: null,
    mode: "live",
    model: MODEL,
    state: "queuing",
    param: JSON.stringify({ model: MODEL, input: { prompt: "a stored task" } }),
    input: JSON.stringify({ prompt: "a stored task" }),
    callbackUrl: null,
    resultJson: null,
    failCode: null,
    failMsg: null,
    createTime: at,
    updateTime: at,
    completeTime: null,
    deadlineTime: at + 3_600_000,
    attempts: 0,
    upstreamAttempts: 0,
    creditsHeld: 0,
    ...changes,
  };
}

/** Rows per INSERT: 19 columns each, well under either database's limit of bound parameters. */
const ROWS_PER_INSERT = 1_000;

/**
 * Writes `tasks` straight into the tasks table, a thousand rows per statement and without
 * admission (no hold, no active count): for tests that need many stored tasks quickly.
 */
export async function insertTasks(db: Kysely<Database>, tasks: readonly Task[]): Promise<void> {
  for (let start = 0; start < tasks.length; start += ROWS_PER_INSERT) {
    const rows = tasks.slice(start, start + ROWS_PER_INSERT).map(toTaskRow);
    await db.insertInto("tasks").values(rows).execute();
  }
}
