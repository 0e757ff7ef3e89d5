import type { Selectable } from "kysely";
import { costTimeOf, creditsConsumedOf, type FailCode, type Task, type TaskRecord, type TaskState } from "../domain/tasks/task.ts";
import type { TasksTable } from "./schema.ts";

/** A row of the tasks table as the database answers it. */
export type TaskRow = Selectable<TasksTable>;

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
    upstreamAttempts: Number(row.upstream_attempts),
    creditsHeld: Number(row.credits_held),
  };
}

/** A task as the tasks table stores it, every column. */
export function toTaskRow(task: Task): TaskRow {
  return {
    id: task.id,
    account_id: task.accountId,
    api_key_id: task.apiKeyId,
    mode: task.mode,
    model: task.model,
    state: task.state,
    param: task.param,
    input: task.input,
    callback_url: task.callbackUrl,
    result_json: task.resultJson,
    fail_code: task.failCode,
    fail_msg: task.failMsg,
    create_time: task.createTime,
    update_time: task.updateTime,
    complete_time: task.completeTime,
    deadline_time: task.deadlineTime,
    attempts: task.attempts,
    upstream_attempts: task.upstreamAttempts,
    credits_held: task.creditsHeld,
  };
}

/** The columns of a task's record, in this order, as a raw statement answers them. */
export type RecordRow = [
  id: string,
  model: string,
  state: string,
  param: string,
  resultJson: string | null,
  failCode: string | null,
  failMsg: string | null,
  createTime: number | bigint,
  updateTime: number | bigint,
  completeTime: number | bigint | null,
  creditsHeld: number | bigint,
];

export function toRecordFromRow(row: RecordRow): TaskRecord {
  const [taskId, model, state, param, resultJson, failCode, failMsg, created, updated, completed, held] = row;
  const createTime = Number(created);
  const completeTime = completed === null ? null : Number(completed);
  return {
    taskId,
    model,
    state: state as TaskState,
    param,
    resultJson,
    failCode: failCode as FailCode | null,
    failMsg,
    costTime: costTimeOf(createTime, completeTime),
    completeTime,
    createTime,
    updateTime: Number(updated),
    creditsConsumed: creditsConsumedOf(state as TaskState, Number(held)),
  };
}
