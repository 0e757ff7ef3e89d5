import type { FailCode, Task, TaskState } from "../domain/tasks/task.ts";

/** A row of the tasks table as the database answers it. */
export interface TaskRow {
  id: string;
  account_id: string;
  api_key_id: string | null;
  mode: "live" | "test";
  model: string;
  state: string;
  param: string;
  input: string;
  callback_url: string | null;
  result_json: string | null;
  fail_code: string | null;
  fail_msg: string | null;
  create_time: number;
  update_time: number;
  complete_time: number | null;
  deadline_time: number;
  attempts: number;
  credits_held: number;
}

export function toTask(row: TaskRow): Task {
  return {
    id: row.id,
    accountId: row.account_id,
    apiKeyId: row.api_key_id,
    mode: row.mode,
    model: row.model,
    state: row.state as TaskState,
    param: row.param,
    input: row.input,
    callbackUrl: row.callback_url,
    resultJson: row.result_json,
    failCode: row.fail_code as FailCode | null,
    failMsg: row.fail_msg,
    createTime: Number(row.create_time),
    updateTime: Number(row.update_time),
    completeTime: row.complete_time === null ? null : Number(row.complete_time),
    deadlineTime: Number(row.deadline_time),
    attempts: Number(row.attempts),
    creditsHeld: Number(row.credits_held),
  };
}
