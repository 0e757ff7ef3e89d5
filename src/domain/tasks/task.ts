export const TASK_STATES = ["waiting", "queuing", "generating", "success", "fail"] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** A task's state only moves forward through TASK_STATES; this is its place on that way. */
export function stateRank(state: TaskState): number {
  return TASK_STATES.indexOf(state);
}

export const ACTIVE_STATES: readonly TaskState[] = ["waiting", "queuing", "generating"];
export const TERMINAL_STATES: readonly TaskState[] = ["success", "fail"];

export const FAIL_CODES = [
  "CONTENT_POLICY",
  "PROVIDER_ERROR",
  "TIMEOUT",
  "INVALID_OUTPUT",
  "CANCELED",
  "INTERNAL",
  "INPUT_IMAGE_ERROR",
] as const;
export type FailCode = (typeof FAIL_CODES)[number];

export function isTerminal(state: TaskState): boolean {
  return state === "success" || state === "fail";
}

/** A task as stored. Times are epoch milliseconds. */
export interface Task {
  id: string;
  accountId: string;
  apiKeyId: string | null;
  /** `test` tasks come from test-mode keys: always the sandbox provider, never credits. */
  mode: "live" | "test";
  model: string;
  state: TaskState;
  /** JSON text of the accepted request body, exactly as the client sent it. */
  param: string;
  /** JSON text of the validated input with defaults applied: what the worker runs. */
  input: string;
  callbackUrl: string | null;
  /** JSON text `{"resultUrls":[...]}` once successful. */
  resultJson: string | null;
  failCode: FailCode | null;
  failMsg: string | null;
  createTime: number;
  updateTime: number;
  completeTime: number | null;
  /** Epoch ms after which the task fails with TIMEOUT. */
  deadlineTime: number;
  /** How many times a worker has started generating this task (recovery restarts count). */
  attempts: number;
  /**
   * Upstream calls made for this task, across restarts: the worker counts each one before making
   * it, so a task resumed after a crash spends only what is left of the provider's attempts.
   */
  upstreamAttempts: number;
  /** Credits held for this task at creation: captured on success, released on failure. */
  creditsHeld: number;
}

/** The recordInfo `data` object of the contract. */
export interface TaskRecord {
  taskId: string;
  model: string;
  state: TaskState;
  param: string;
  resultJson: string | null;
  failCode: FailCode | null;
  failMsg: string | null;
  costTime: number | null;
  completeTime: number | null;
  createTime: number;
  updateTime: number;
  /** Credits charged: the held price once successful, else 0 (a hold is not a charge). */
  creditsConsumed: number;
}

/** Credits a task in `state` holding `creditsHeld` has cost its account. */
export function creditsConsumedOf(state: TaskState, creditsHeld: number): number {
  return state === "success" ? creditsHeld : 0;
}

/** Milliseconds from creation to the end, once the task has ended. */
export function costTimeOf(createTime: number, completeTime: number | null): number | null {
  return completeTime === null ? null : completeTime - createTime;
}

export function toRecord(task: Task): TaskRecord {
  return {
    taskId: task.id,
    model: task.model,
    state: task.state,
    param: task.param,
    resultJson: task.resultJson,
    failCode: task.failCode,
    failMsg: task.failMsg,
    costTime: costTimeOf(task.createTime, task.completeTime),
    completeTime: task.completeTime,
    createTime: task.createTime,
    updateTime: task.updateTime,
    creditsConsumed: creditsConsumedOf(task.state, task.creditsHeld),
  };
}
