import { newId } from "../../src/domain/ids.ts";
import type { Task } from "../../src/domain/tasks/task.ts";
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
