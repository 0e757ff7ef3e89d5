import type SqliteDatabase from "better-sqlite3";
import { callbackPayload } from "../domain/callbacks/callback.ts";
import type { Admission, CreateOutcome, Durability, IdempotencyClaim, TaskChange, TaskRepository } from "../domain/tasks/ports.ts";
import { stateRank, toRecord, type Task, type TaskRecord, type TaskState } from "../domain/tasks/task.ts";
import { toRecordFromRow, toTask, type RecordRow, type TaskRow } from "./task-rows.ts";
import { ExternalWrites } from "./external-writes.ts";
import type { SqliteGroupCommit } from "./sqlite-group-commit.ts";

const ACTIVE = "('waiting','queuing','generating')";

/**
 * Expired idempotency keys removed per write: a day of keys can be millions of rows, which one
 * DELETE would hold the event loop for seconds to remove.
 */
export const EXPIRED_KEYS_PER_BATCH = 1_000;

/** Records of the tasks written last, kept for recordInfo: about 20 MB at most. */
const RECENT_RECORDS = 20_000;

function prepareStatements(database: SqliteDatabase.Database) {
  const prepare = (sql: string) => database.prepare(sql);
  return {
    insert: prepare(
      `INSERT INTO tasks (id, account_id, api_key_id, mode, model, state, param, input, callback_url, result_json,
         fail_code, fail_msg, create_time, update_time, complete_time, deadline_time, attempts, upstream_attempts, credits_held)
       VALUES (@id, @accountId, @apiKeyId, @mode, @model, @state, @param, @input, @callbackUrl, @resultJson,
         @failCode, @failMsg, @createTime, @updateTime, @completeTime, @deadlineTime, @attempts, @upstreamAttempts, @creditsHeld)`,
    ),
    get: prepare("SELECT * FROM tasks WHERE id = ?"),
    getForAccount: prepare("SELECT * FROM tasks WHERE id = ? AND account_id = ?"),
    // Only the record's columns, as an array: a third of the row, and no object to build per row.
    getRecordForAccount: prepare(
      `SELECT id, model, state, param, result_json, fail_code, fail_msg, create_time, update_time, complete_time, credits_held
       FROM tasks WHERE id = ? AND account_id = ?`,
    ).raw(),
    countForAccount: prepare("SELECT count(*) AS count FROM tasks WHERE account_id = ?"),
    countUpstreamAttempt: prepare(`UPDATE tasks SET upstream_attempts = upstream_attempts + 1 WHERE id = ? AND state IN ${ACTIVE}`),
    listActive: prepare(`SELECT * FROM tasks WHERE state IN ${ACTIVE} ORDER BY id`),
    listIdleActive: prepare(
      `SELECT id, state FROM tasks WHERE state IN ${ACTIVE} AND update_time < ? AND id > ? ORDER BY id LIMIT ?`,
    ),
    listOverdue: prepare(
      `SELECT * FROM tasks WHERE state IN ${ACTIVE} AND deadline_time < ? ORDER BY deadline_time LIMIT ?`,
    ),
    admit: prepare(
      `UPDATE accounts SET active_tasks = active_tasks + 1, credits = credits - @amount
       WHERE id = @accountId AND active_tasks < @activeLimit AND credits >= @amount RETURNING credits`,
    ),
    admissionState: prepare("SELECT active_tasks, credits FROM accounts WHERE id = ?"),
    leaveActive: prepare("UPDATE accounts SET active_tasks = active_tasks - 1 WHERE id = ? AND active_tasks > 0"),
    returnCredits: prepare("UPDATE accounts SET credits = credits + @amount WHERE id = @accountId RETURNING credits"),
    balance: prepare("SELECT credits FROM accounts WHERE id = ?"),
    ledger: prepare(
      `INSERT INTO credit_ledger (account_id, task_id, kind, amount, balance_after, reason, actor, created_at)
       VALUES (@accountId, @taskId, @kind, @amount, @balanceAfter, NULL, 'system', @now)`,
    ),
    insertDelivery: prepare(
      `INSERT INTO callback_deliveries (id, task_id, account_id, url, payload, state, attempts, next_attempt_at, created_at, updated_at)
       VALUES (@id, @taskId, @accountId, @url, @payload, 'pending', 0, @now, @now, @now)`,
    ),
    findIdempotency: prepare("SELECT request_hash, task_id, created_at, expires_at FROM idempotency_keys WHERE account_id = ? AND key = ?"),
    upsertIdempotency: prepare(
      `INSERT INTO idempotency_keys (account_id, key, request_hash, task_id, created_at, expires_at)
       VALUES (@accountId, @key, @requestHash, NULL, @now, @expiresAt)
       ON CONFLICT (account_id, key) DO UPDATE SET request_hash = excluded.request_hash, task_id = NULL,
         created_at = excluded.created_at, expires_at = excluded.expires_at`,
    ),
    linkIdempotency: prepare("UPDATE idempotency_keys SET task_id = ? WHERE account_id = ? AND key = ?"),
    releaseIdempotency: prepare("DELETE FROM idempotency_keys WHERE account_id = ? AND key = ? AND task_id IS NULL"),
    expireIdempotency: prepare(
      `DELETE FROM idempotency_keys WHERE rowid IN
         (SELECT rowid FROM idempotency_keys WHERE expires_at <= ? LIMIT ${EXPIRED_KEYS_PER_BATCH})`,
    ),
  };
}

/**
 * Tasks on the embedded SQLite database. Every write goes through the group commit: better-sqlite3
 * is synchronous, so a write's statements run as one uninterrupted unit inside the group's
 * IMMEDIATE transaction, which also keeps other processes (the CLI) from slipping in between a
 * read and the write that depends on it.
 */
export class SqliteTaskRepository implements TaskRepository {
  private readonly statements: ReturnType<typeof prepareStatements>;
  private readonly writeCreate: (task: Task, admission: Admission) => CreateOutcome;
  private readonly writeTransition: (taskId: string, from: readonly TaskState[], change: TaskChange) => Task | null;
  private readonly writeClaim: (claim: Parameters<TaskRepository["claimIdempotencyKey"]>[0]) => IdempotencyClaim;
  private readonly cache = new Map<string, SqliteDatabase.Statement>();
  /**
   * What clients poll is what was just created or changed, so the records of the tasks this
   * process wrote last are kept, as each write became durable; recordInfo answers those without a
   * read, and any other task with one read by primary key. Another process's commit (the CLI)
   * empties it, since that may have changed a kept task.
   */
  private readonly recent = new Map<string, { accountId: string; record: TaskRecord }>();
  private recentGeneration: number;

  constructor(
    private readonly database: SqliteDatabase.Database,
    private readonly groupCommit: SqliteGroupCommit,
    private readonly externalWrites: ExternalWrites = new ExternalWrites(database),
  ) {
    this.statements = prepareStatements(database);
    this.recentGeneration = externalWrites.generation();

    // Each write below runs only through the group commit, whose transaction makes its statements
    // one atomic unit; wrapping them in transactions of their own would only add savepoints.
    this.writeCreate = (task: Task, admission: Admission): CreateOutcome => {
      // One guarded update admits the task: a slot under the active limit and the price's credits.
      const taken = this.statements.admit.get({
        amount: admission.price,
        accountId: task.accountId,
        activeLimit: admission.activeLimit,
      }) as { credits: number } | undefined;
      if (taken === undefined) {
        const state = this.statements.admissionState.get(task.accountId) as { active_tasks: number; credits: number } | undefined;
        return state !== undefined && state.active_tasks >= admission.activeLimit ? "ACTIVE_LIMIT" : "INSUFFICIENT_CREDITS";
      }
      if (admission.price > 0) {
        this.statements.ledger.run({
          accountId: task.accountId,
          taskId: task.id,
          kind: "hold",
          amount: -admission.price,
          balanceAfter: taken.credits,
          now: task.createTime,
        });
      }
      this.statements.insert.run({ ...task, creditsHeld: admission.price });
      if (admission.idempotencyKey !== undefined) {
        this.statements.linkIdempotency.run(task.id, task.accountId, admission.idempotencyKey);
      }
      return "created";
    };

    this.writeClaim = (claim: Parameters<TaskRepository["claimIdempotencyKey"]>[0]): IdempotencyClaim => {
      const existing = this.statements.findIdempotency.get(claim.accountId, claim.key) as
        | { request_hash: string; task_id: string | null; created_at: number; expires_at: number }
        | undefined;
      const usable =
        existing !== undefined &&
        existing.expires_at > claim.now &&
        (existing.task_id !== null || existing.created_at >= claim.staleBefore);
      if (existing !== undefined && usable) {
        if (existing.request_hash !== claim.requestHash) return { kind: "mismatch" };
        return existing.task_id === null ? { kind: "in-flight" } : { kind: "replay", taskId: existing.task_id };
      }
      this.statements.upsertIdempotency.run(claim);
      return { kind: "claimed" };
    };

    this.writeTransition = (taskId: string, from: readonly TaskState[], change: TaskChange): Task | null => {
      if (from.some((state) => state === "success" || state === "fail")) {
        throw new Error("a terminal task never changes state");
      }
      const assignments = ["state = @state", "update_time = @updateTime"];
      if (change.resultJson !== undefined) assignments.push("result_json = @resultJson");
      if (change.failCode !== undefined) assignments.push("fail_code = @failCode");
      if (change.failMsg !== undefined) assignments.push("fail_msg = @failMsg");
      if (change.completeTime !== undefined) assignments.push("complete_time = @completeTime");
      if (change.countAttempt === true) assignments.push("attempts = attempts + 1", "upstream_attempts = upstream_attempts + 1");
      const states = from.map((_, index) => `@from${index}`).join(", ");
      const parameters: Record<string, unknown> = { taskId, ...change };
      delete parameters.countAttempt;
      delete parameters.credits;
      delete parameters.callbackId;
      from.forEach((state, index) => {
        parameters[`from${index}`] = state;
      });
      const row = this.prepared(
        `UPDATE tasks SET ${assignments.join(", ")} WHERE id = @taskId AND state IN (${states}) RETURNING *`,
      ).get(parameters) as TaskRow | undefined;
      if (row === undefined) return null;
      const task = toTask(row);
      // Every `from` state is active, so a terminal state here leaves the active set exactly once.
      if (task.state === "success" || task.state === "fail") this.statements.leaveActive.run(task.accountId);
      if (change.credits !== undefined && task.creditsHeld > 0) this.settleCredits(task, change.credits, change.updateTime);
      if (change.callbackId !== undefined && task.callbackUrl !== null) {
        this.statements.insertDelivery.run({
          id: change.callbackId,
          taskId: task.id,
          accountId: task.accountId,
          url: task.callbackUrl,
          payload: callbackPayload(task),
          now: change.updateTime,
        });
      }
      return task;
    };
  }

  /** Statements whose text varies with the change are prepared once per distinct text. */
  private prepared(sql: string): SqliteDatabase.Statement {
    let statement = this.cache.get(sql);
    if (statement === undefined) {
      statement = this.database.prepare(sql);
      this.cache.set(sql, statement);
    }
    return statement;
  }

  private settleCredits(task: Task, outcome: "capture" | "release", now: number): void {
    if (outcome === "release") {
      const returned = this.statements.returnCredits.get({ amount: task.creditsHeld, accountId: task.accountId }) as { credits: number };
      this.statements.ledger.run({
        accountId: task.accountId,
        taskId: task.id,
        kind: "release",
        amount: task.creditsHeld,
        balanceAfter: returned.credits,
        now,
      });
      return;
    }
    const balance = this.statements.balance.get(task.accountId) as { credits: number };
    // A capture moves nothing: the hold already left the balance. It records that it is final.
    this.statements.ledger.run({ accountId: task.accountId, taskId: task.id, kind: "capture", amount: 0, balanceAfter: balance.credits, now });
  }

  async create(task: Task, admission: Admission): Promise<CreateOutcome> {
    const outcome = await this.groupCommit.submit(() => this.writeCreate(task, admission));
    if (outcome === "created") this.remember(task);
    return outcome;
  }

  private remember(task: Task): void {
    // Answers can arrive out of commit order (a change that waits only for its commit answers
    // before an earlier one waiting for the disk); a state only moves forward, so the older
    // answer never replaces the newer.
    const kept = this.recent.get(task.id);
    if (kept !== undefined && stateRank(kept.record.state) > stateRank(task.state)) return;
    this.recent.delete(task.id);
    this.recent.set(task.id, { accountId: task.accountId, record: Object.freeze(toRecord(task)) });
    if (this.recent.size > RECENT_RECORDS) {
      const oldest = this.recent.keys().next();
      if (oldest.done !== true) this.recent.delete(oldest.value);
    }
  }

  async get(taskId: string): Promise<Task | null> {
    const row = this.statements.get.get(taskId) as TaskRow | undefined;
    return row === undefined ? null : toTask(row);
  }

  async getForAccount(taskId: string, accountId: string): Promise<Task | null> {
    const row = this.statements.getForAccount.get(taskId, accountId) as TaskRow | undefined;
    return row === undefined ? null : toTask(row);
  }

  async getRecordForAccount(taskId: string, accountId: string): Promise<TaskRecord | null> {
    const generation = this.externalWrites.generation();
    if (generation !== this.recentGeneration) {
      this.recent.clear();
      this.recentGeneration = generation;
    }
    const kept = this.recent.get(taskId);
    if (kept !== undefined) return kept.accountId === accountId ? kept.record : null;
    const row = this.statements.getRecordForAccount.get(taskId, accountId) as RecordRow | undefined;
    return row === undefined ? null : Object.freeze(toRecordFromRow(row));
  }

  async transition(taskId: string, from: readonly TaskState[], change: TaskChange, wait: Durability = "on-disk"): Promise<Task | null> {
    let changed: Task | null;
    try {
      changed = await this.groupCommit.submit(() => this.writeTransition(taskId, from, change), wait);
    } catch (error) {
      // The change may be committed without being known durable: keep no record of it either way.
      this.recent.delete(taskId);
      throw error;
    }
    if (changed !== null) this.remember(changed);
    return changed;
  }

  async countUpstreamAttempt(taskId: string): Promise<void> {
    // Nothing recordInfo shows changes, so the kept records stay as they are.
    await this.groupCommit.submit(() => this.statements.countUpstreamAttempt.run(taskId), "committed");
  }

  async listActive(): Promise<Task[]> {
    return (this.statements.listActive.all() as TaskRow[]).map(toTask);
  }

  async listIdleActive(updatedBefore: number, afterId: string | null, limit: number): Promise<Array<Pick<Task, "id" | "state">>> {
    return this.statements.listIdleActive.all(updatedBefore, afterId ?? "", limit) as Array<Pick<Task, "id" | "state">>;
  }

  async listOverdue(now: number, limit: number): Promise<Task[]> {
    return (this.statements.listOverdue.all(now, limit) as TaskRow[]).map(toTask);
  }

  async countForAccount(accountId: string): Promise<number> {
    return (this.statements.countForAccount.get(accountId) as { count: number }).count;
  }

  async claimIdempotencyKey(claim: Parameters<TaskRepository["claimIdempotencyKey"]>[0]): Promise<IdempotencyClaim> {
    return this.groupCommit.submit(() => this.writeClaim(claim));
  }

  async releaseIdempotencyKey(accountId: string, key: string): Promise<void> {
    await this.groupCommit.submit(() => this.statements.releaseIdempotency.run(accountId, key));
  }

  /** In batches through the group commit, the event loop serving requests between them. */
  async deleteExpiredIdempotencyKeys(now: number): Promise<number> {
    let removed = 0;
    for (;;) {
      // Forgetting an expired key need not wait for the disk: a key a crash brings back expires again.
      const batch = await this.groupCommit.submit(() => this.statements.expireIdempotency.run(now).changes, "committed");
      removed += batch;
      if (batch < EXPIRED_KEYS_PER_BATCH) return removed;
    }
  }
}
