import type { Kysely, Selectable } from "kysely";
import type { TaskChange, TaskRepository } from "../domain/tasks/ports.ts";
import { ACTIVE_STATES, type FailCode, type Task, type TaskState } from "../domain/tasks/task.ts";
import type { Database, TasksTable } from "./schema.ts";

function toTask(row: Selectable<TasksTable>): Task {
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
  };
}

export class KyselyTaskRepository implements TaskRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(task: Task): Promise<void> {
    await this.db
      .insertInto("tasks")
      .values({
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
      })
      .execute();
  }

  async get(taskId: string): Promise<Task | null> {
    const row = await this.db.selectFrom("tasks").selectAll().where("id", "=", taskId).executeTakeFirst();
    return row === undefined ? null : toTask(row);
  }

  async getForAccount(taskId: string, accountId: string): Promise<Task | null> {
    const row = await this.db
      .selectFrom("tasks")
      .selectAll()
      .where("id", "=", taskId)
      .where("account_id", "=", accountId)
      .executeTakeFirst();
    return row === undefined ? null : toTask(row);
  }

  async transition(taskId: string, from: readonly TaskState[], change: TaskChange): Promise<Task | null> {
    const row = await this.db
      .updateTable("tasks")
      .set((expression) => ({
        state: change.state,
        update_time: change.updateTime,
        ...(change.resultJson === undefined ? {} : { result_json: change.resultJson }),
        ...(change.failCode === undefined ? {} : { fail_code: change.failCode }),
        ...(change.failMsg === undefined ? {} : { fail_msg: change.failMsg }),
        ...(change.completeTime === undefined ? {} : { complete_time: change.completeTime }),
        ...(change.countAttempt === true ? { attempts: expression("attempts", "+", 1) } : {}),
      }))
      .where("id", "=", taskId)
      .where("state", "in", [...from])
      .returningAll()
      .executeTakeFirst();
    return row === undefined ? null : toTask(row);
  }

  async listActive(): Promise<Task[]> {
    const rows = await this.db
      .selectFrom("tasks")
      .selectAll()
      .where("state", "in", [...ACTIVE_STATES])
      .orderBy("id")
      .execute();
    return rows.map(toTask);
  }

  async listOverdue(now: number, limit: number): Promise<Task[]> {
    const rows = await this.db
      .selectFrom("tasks")
      .selectAll()
      .where("state", "in", [...ACTIVE_STATES])
      .where("deadline_time", "<", now)
      .orderBy("deadline_time")
      .limit(limit)
      .execute();
    return rows.map(toTask);
  }

  async countActive(accountId: string): Promise<number> {
    const row = await this.db
      .selectFrom("tasks")
      .select((expression) => expression.fn.countAll<number>().as("count"))
      .where("account_id", "=", accountId)
      .where("state", "in", [...ACTIVE_STATES])
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async countForAccount(accountId: string): Promise<number> {
    const row = await this.db
      .selectFrom("tasks")
      .select((expression) => expression.fn.countAll<number>().as("count"))
      .where("account_id", "=", accountId)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }
}
