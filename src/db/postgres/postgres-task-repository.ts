import { createHash } from "node:crypto";
import { callbackPayload } from "../../domain/callbacks/callback.ts";
import type { Admission, CreateOutcome, Durability, IdempotencyClaim, TaskChange, TaskRepository } from "../../domain/tasks/ports.ts";
import { isTerminal, type Task, type TaskRecord, type TaskState } from "../../domain/tasks/task.ts";
import { toRecordFromRow, toTask, toTaskRow, type RecordRow, type TaskRow } from "../task-rows.ts";
import { Batcher, READ_BATCHES, type ItemOutcome } from "../../concurrency/batcher.ts";
import { DatabaseUnavailableError, type NamedStatement, type PostgresDatabase, type Queryable } from "./connection.ts";

const ACTIVE = "('waiting', 'queuing', 'generating')";

/** Expired idempotency keys removed per statement, so that no one DELETE holds its locks for long. */
export const EXPIRED_KEYS_PER_BATCH = 1_000;

const statement = (name: string, text: string): NamedStatement => ({ name: `task_${name}`, text });

/**
 * One create batch at a time, as SQLite's group commit: the creates of one account wait for each
 * other's commit anyway (its row stays locked until then), so a second batch would mostly hold a
 * connection waiting, and split the creates gathered meanwhile into smaller commits. The next
 * batch leaves as soon as one ends. Measured on two cores, one batch in flight beat two and four.
 */
const CREATE_BATCHES = { concurrency: 1, maxItems: 500 };

/**
 * A change that moves a task forward without settling it (handed to the queue, started): its
 * state and time, and perhaps one more attempt. The hot changes of every task, gathered from
 * concurrent callers into one statement.
 */
interface Step {
  taskId: string;
  from: readonly TaskState[];
  change: TaskChange;
}

function isStep(change: TaskChange): boolean {
  return (
    !isTerminal(change.state) &&
    change.credits === undefined &&
    change.callbackId === undefined &&
    change.resultJson === undefined &&
    change.failCode === undefined &&
    change.failMsg === undefined &&
    change.completeTime === undefined
  );
}

const STEP_BATCHES = { concurrency: 4, maxItems: 500 };
/** PostgreSQL's SQLSTATE for a transaction chosen as a deadlock's victim. */
const DEADLOCK_DETECTED = "40P01";

const STATEMENTS = {
  /** The creates of a batch, in one call and so in one transaction (see migration 0005). */
  createBatch: statement("create_batch", "SELECT create_tasks($1::json) AS outcomes"),
  /**
   * A create on its own, when its batch failed. Admission and storage in one statement, so in one
   * transaction of its own: one guarded update takes a slot under the active limit and the price's
   * credits (the row lock serializes the account's creates across processes; the guard is checked
   * again on the newest row), and only when it took them the hold, the task and the idempotency
   * link are written.
   */
  create: statement(
    "create",
    `WITH admitted AS (
       UPDATE accounts SET active_tasks = active_tasks + 1, credits = credits - $19
       WHERE id = $2 AND active_tasks < $20 AND credits >= $19
       RETURNING credits
     ), held AS (
       INSERT INTO credit_ledger (account_id, task_id, kind, amount, balance_after, reason, actor, created_at)
       SELECT $2, $1, 'hold', -$19::bigint, credits, NULL, 'system', $13 FROM admitted WHERE $19::bigint > 0
     ), stored AS (
       INSERT INTO tasks (id, account_id, api_key_id, mode, model, state, param, input, callback_url, result_json,
         fail_code, fail_msg, create_time, update_time, complete_time, deadline_time, attempts, upstream_attempts, credits_held)
       SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19 FROM admitted
       RETURNING id
     ), linked AS (
       UPDATE idempotency_keys SET task_id = $1 WHERE account_id = $2 AND key = $21::text AND EXISTS (SELECT 1 FROM stored)
     )
     SELECT EXISTS (SELECT 1 FROM stored) AS created`,
  ),
  admissionState: statement("admission_state", "SELECT active_tasks FROM accounts WHERE id = $1"),
  get: statement("get", "SELECT * FROM tasks WHERE id = $1"),
  /**
   * Steps (see isStep) of many tasks, each guarded by its own states, in one statement. The rows
   * are locked first in id order, as every batch of every process locks them, so two batches
   * sharing tasks (an API process queuing them while a worker starts them) wait for each other
   * rather than deadlock.
   */
  steps: statement(
    "steps",
    `WITH c AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::integer[], $5::text[]) AS c(id, state, update_time, counted, from_states)
     ), locked AS (
       SELECT id FROM tasks WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE
     )
     UPDATE tasks AS t SET state = c.state, update_time = c.update_time,
       attempts = t.attempts + c.counted, upstream_attempts = t.upstream_attempts + c.counted
     FROM c WHERE t.id = c.id AND t.id IN (SELECT id FROM locked) AND t.state = ANY(string_to_array(c.from_states, ','))
     RETURNING t.*`,
  ),
  getForAccount: statement("get_for_account", "SELECT * FROM tasks WHERE id = $1 AND account_id = $2"),
  // The records of the reads of one batch: the owner, then the columns in the order toRecordFromRow reads them.
  getRecords: statement(
    "records",
    `SELECT account_id, id, model, state, param, result_json, fail_code, fail_msg, create_time, update_time, complete_time, credits_held
     FROM tasks WHERE id = ANY($1::text[])`,
  ),
  /**
   * What settling a task does besides its own row, in one statement: the task leaves the account's
   * active count, a released hold returns to the balance, the ledger records the capture or the
   * release with the balance after it, and the callback goes to the outbox.
   */
  settle: statement(
    "settle",
    `WITH account AS (
       UPDATE accounts SET active_tasks = greatest(active_tasks - $3::integer, 0), credits = credits + $4::bigint
       WHERE id = $1 RETURNING credits
     ), ledger AS (
       INSERT INTO credit_ledger (account_id, task_id, kind, amount, balance_after, reason, actor, created_at)
       SELECT $1, $2, $5::text, $4::bigint, credits, NULL, 'system', $6 FROM account WHERE $5::text IS NOT NULL
     )
     INSERT INTO callback_deliveries (id, task_id, account_id, url, payload, state, attempts, next_attempt_at, created_at, updated_at)
     SELECT $7::text, $2, $1, $8::text, $9::text, 'pending', 0, $6, $6, $6 WHERE $7::text IS NOT NULL`,
  ),
  countForAccount: statement("count_for_account", "SELECT count(*) AS count FROM tasks WHERE account_id = $1"),
  countUpstreamAttempt: statement(
    "count_upstream_attempt",
    `UPDATE tasks SET upstream_attempts = upstream_attempts + 1 WHERE id = $1 AND state IN ${ACTIVE}`,
  ),
  listActive: statement("list_active", `SELECT * FROM tasks WHERE state IN ${ACTIVE} ORDER BY id`),
  listIdleActive: statement(
    "list_idle_active",
    `SELECT id, state FROM tasks WHERE state IN ${ACTIVE} AND update_time < $1 AND id > $2 ORDER BY id LIMIT $3`,
  ),
  listOverdue: statement(
    "list_overdue",
    `SELECT * FROM tasks WHERE state IN ${ACTIVE} AND deadline_time < $1 ORDER BY deadline_time LIMIT $2`,
  ),
  /**
   * Claims the key unless a usable claim holds it: one not expired, and either linked to its task
   * or younger than the staleness bound. A usable row is left as it is but locked all the same
   * (ON CONFLICT locks the row it does not update), so the read after it sees it unchanged.
   */
  claimIdempotency: statement(
    "claim_idempotency",
    `INSERT INTO idempotency_keys (account_id, key, request_hash, task_id, created_at, expires_at)
     VALUES ($1, $2, $3, NULL, $4, $5)
     ON CONFLICT (account_id, key) DO UPDATE SET request_hash = excluded.request_hash, task_id = NULL,
       created_at = excluded.created_at, expires_at = excluded.expires_at
     WHERE NOT (idempotency_keys.expires_at > $4 AND (idempotency_keys.task_id IS NOT NULL OR idempotency_keys.created_at >= $6))
     RETURNING 1`,
  ),
  findIdempotency: statement("find_idempotency", "SELECT request_hash, task_id FROM idempotency_keys WHERE account_id = $1 AND key = $2"),
  releaseIdempotency: statement(
    "release_idempotency",
    "DELETE FROM idempotency_keys WHERE account_id = $1 AND key = $2 AND task_id IS NULL",
  ),
  // Rows another sweeper is deleting are skipped, not waited for: sweeps in several processes share the work.
  expireIdempotency: statement(
    "expire_idempotency",
    `DELETE FROM idempotency_keys WHERE (account_id, key) IN
       (SELECT account_id, key FROM idempotency_keys WHERE expires_at <= $1 LIMIT ${EXPIRED_KEYS_PER_BATCH} FOR UPDATE SKIP LOCKED)`,
  ),
};

/**
 * Text PostgreSQL's json refuses though a text parameter takes it: a lone surrogate, which a
 * parameter turns into U+FFFD (as JSON, an escape json rejects), and NUL, which both refuse. The
 * client's own text (a callback URL) may hold them; param and input are JSON, which escapes both.
 */
const UNFIT_FOR_JSON = /\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

interface RecordRead {
  taskId: string;
  accountId: string;
}

interface PendingCreate {
  task: Task;
  admission: Admission;
}

/** A create as create_tasks reads it: `i` is its position in the batch, from 1. */
function batchRow({ task, admission }: PendingCreate, index: number) {
  return {
    i: index + 1,
    // credits_held is the function's to set: the price, once admitted.
    ...toTaskRow(task),
    price: admission.price,
    active_limit: admission.activeLimit,
    idempotency_key: admission.idempotencyKey ?? null,
  };
}

/**
 * Tasks on PostgreSQL, shared by every process. Each write is one statement, or one short
 * transaction when settling a task needs the updated row; correctness across processes comes from
 * the statements themselves (guarded updates with RETURNING, row locks), never from a lock in this
 * process. Nothing is cached: another process may change any task at any time. A commit is
 * durable once PostgreSQL answers it, so both Durability values wait for the commit alone.
 *
 * Creates are committed in groups: each commit waits for the log to reach the disk, and the
 * creates of one account wait for each other's commit (the account's row stays locked until
 * then), so one commit per create would bound an account's creates by the disk's flushes. The
 * creates made at once in this process go to the database together, in one call of create_tasks:
 * one round trip, one commit, each create admitted on its own exactly as alone, each caller
 * answered after the commit.
 */
export class PostgresTaskRepository implements TaskRepository {
  /** The compare-and-set statements, one per shape of change, each prepared once per connection. */
  private readonly transitions = new Map<string, NamedStatement>();
  private readonly creates = new Batcher<PendingCreate, CreateOutcome>((batch) => this.createBatch(batch), CREATE_BATCHES);
  private readonly records = new Batcher<RecordRead, TaskRecord | null>((reads) => this.readRecords(reads), READ_BATCHES);
  private readonly steps = new Batcher<Step, Task | null>((steps) => this.stepBatch(steps), STEP_BATCHES);

  constructor(private readonly database: PostgresDatabase) {}

  create(task: Task, admission: Admission): Promise<CreateOutcome> {
    // What the batch's JSON cannot carry would fail the whole batch, and make its creates go one
    // by one: such a create goes alone, where a text parameter carries it as it did before.
    if (UNFIT_FOR_JSON.test(task.param) || UNFIT_FOR_JSON.test(task.input) || UNFIT_FOR_JSON.test(task.callbackUrl ?? "")) {
      return this.createAlone(task, admission);
    }
    return this.creates.submit({ task, admission });
  }

  private async createBatch(batch: PendingCreate[]): Promise<ItemOutcome<CreateOutcome>[]> {
    try {
      const { rows } = await this.database.query<{ outcomes: CreateOutcome[] }>(STATEMENTS.createBatch, [JSON.stringify(batch.map(batchRow))]);
      return (rows[0]?.outcomes ?? []).map((value) => ({ ok: true, value }));
    } catch (error) {
      // The call is one statement, so it wrote nothing. Without the database, every create of the
      // batch fails. Else one create's row failed (a duplicate id, say) and undid the others: each
      // is made again on its own, so that only that one fails.
      if (error instanceof DatabaseUnavailableError || batch.length === 1) throw error;
      return Promise.all(
        batch.map(({ task, admission }) =>
          this.createAlone(task, admission).then(
            (value): ItemOutcome<CreateOutcome> => ({ ok: true, value }),
            (failure: unknown): ItemOutcome<CreateOutcome> => ({ ok: false, error: failure }),
          ),
        ),
      );
    }
  }

  private async createAlone(task: Task, admission: Admission): Promise<CreateOutcome> {
    const { rows } = await this.database.query<{ created: boolean }>(STATEMENTS.create, [
      task.id,
      task.accountId,
      task.apiKeyId,
      task.mode,
      task.model,
      task.state,
      task.param,
      task.input,
      task.callbackUrl,
      task.resultJson,
      task.failCode,
      task.failMsg,
      task.createTime,
      task.updateTime,
      task.completeTime,
      task.deadlineTime,
      task.attempts,
      task.upstreamAttempts,
      admission.price,
      admission.activeLimit,
      admission.idempotencyKey ?? null,
    ]);
    if (rows[0]?.created === true) return "created";
    // Read after the refusal, so it sees at least the state the guard saw.
    const state = await this.database.query<{ active_tasks: number }>(STATEMENTS.admissionState, [task.accountId]);
    const activeTasks = state.rows[0]?.active_tasks;
    return activeTasks !== undefined && activeTasks >= admission.activeLimit ? "ACTIVE_LIMIT" : "INSUFFICIENT_CREDITS";
  }

  async get(taskId: string): Promise<Task | null> {
    const { rows } = await this.database.query<TaskRow>(STATEMENTS.get, [taskId]);
    return rows[0] === undefined ? null : toTask(rows[0]);
  }

  async getForAccount(taskId: string, accountId: string): Promise<Task | null> {
    const { rows } = await this.database.query<TaskRow>(STATEMENTS.getForAccount, [taskId, accountId]);
    return rows[0] === undefined ? null : toTask(rows[0]);
  }

  /**
   * Read from the database at every call: a worker in another process may have just changed it.
   * Clients poll, so the reads of the polls arriving together are made in one statement.
   */
  getRecordForAccount(taskId: string, accountId: string): Promise<TaskRecord | null> {
    return this.records.submit({ taskId, accountId });
  }

  private async readRecords(reads: RecordRead[]): Promise<ItemOutcome<TaskRecord | null>[]> {
    const taskIds = [...new Set(reads.map((read) => read.taskId))];
    const rows = await this.database.queryArrays<[accountId: string, ...record: RecordRow]>(STATEMENTS.getRecords, [taskIds]);
    // Frozen, so the callers reading one task share its record (and the route its serialized answer).
    const byId = new Map(rows.map(([accountId, ...record]) => [record[0], { accountId, record: Object.freeze(toRecordFromRow(record)) }]));
    return reads.map(({ taskId, accountId }) => {
      const found = byId.get(taskId);
      return { ok: true, value: found?.accountId === accountId ? found.record : null };
    });
  }

  async transition(taskId: string, from: readonly TaskState[], change: TaskChange, _wait: Durability = "on-disk"): Promise<Task | null> {
    if (from.some(isTerminal)) throw new Error("a terminal task never changes state");
    if (isStep(change)) return this.steps.submit({ taskId, from, change });
    const { statement: update, values } = this.transitionStatement(taskId, from, change);
    const settles = isTerminal(change.state) || change.credits !== undefined || change.callbackId !== undefined;
    if (!settles) {
      const { rows } = await this.database.query<TaskRow>(update, values);
      return rows[0] === undefined ? null : toTask(rows[0]);
    }
    return this.database.transaction(async (client) => {
      // The guarded update locks the row: a racing transition waits, then finds the state moved on.
      const { rows } = await client.query<TaskRow>(update.text, values);
      if (rows[0] === undefined) return null;
      const task = toTask(rows[0]);
      await this.settle(client, task, change);
      return task;
    });
  }

  /**
   * Steps of many tasks in one statement: each row changes only while its state is one of its
   * own `from`. A task twice in one batch (two steps racing) would be updated once for both, so
   * such a batch goes step by step instead.
   */
  private async stepBatch(steps: Step[]): Promise<ItemOutcome<Task | null>[]> {
    const ids = steps.map((step) => step.taskId);
    if (new Set(ids).size < ids.length) return this.stepOneByOne(steps);
    let rows: TaskRow[];
    try {
      ({ rows } = await this.database.query<TaskRow>(STATEMENTS.steps, [
        ids,
        steps.map((step) => step.change.state),
        steps.map((step) => step.change.updateTime),
        steps.map((step) => (step.change.countAttempt === true ? 1 : 0)),
        steps.map((step) => step.from.join(",")),
      ]));
    } catch (error) {
      // Chosen as a deadlock's victim all the same (a lock taken by another kind of statement):
      // each step again on its own, which locks one row and so cannot deadlock.
      if ((error as { code?: unknown }).code === DEADLOCK_DETECTED) return this.stepOneByOne(steps);
      throw error;
    }
    const byId = new Map(rows.map((row) => [row.id, toTask(row)]));
    return ids.map((id) => ({ ok: true, value: byId.get(id) ?? null }));
  }

  private stepOneByOne(steps: Step[]): Promise<ItemOutcome<Task | null>[]> {
    return Promise.all(
      steps.map(async ({ taskId, from, change }): Promise<ItemOutcome<Task | null>> => {
        try {
          const { statement: update, values } = this.transitionStatement(taskId, from, change);
          const { rows } = await this.database.query<TaskRow>(update, values);
          return { ok: true, value: rows[0] === undefined ? null : toTask(rows[0]) };
        } catch (error) {
          return { ok: false, error };
        }
      }),
    );
  }

  private transitionStatement(taskId: string, from: readonly TaskState[], change: TaskChange) {
    const values: unknown[] = [taskId, change.state, change.updateTime];
    const assignments = ["state = $2", "update_time = $3"];
    const set = (column: string, value: unknown): void => {
      values.push(value);
      assignments.push(`${column} = $${values.length}`);
    };
    if (change.resultJson !== undefined) set("result_json", change.resultJson);
    if (change.failCode !== undefined) set("fail_code", change.failCode);
    if (change.failMsg !== undefined) set("fail_msg", change.failMsg);
    if (change.completeTime !== undefined) set("complete_time", change.completeTime);
    if (change.countAttempt === true) assignments.push("attempts = attempts + 1", "upstream_attempts = upstream_attempts + 1");
    values.push([...from]);
    const text = `UPDATE tasks SET ${assignments.join(", ")} WHERE id = $1 AND state = ANY($${values.length}::text[]) RETURNING *`;
    let statement = this.transitions.get(text);
    if (statement === undefined) {
      // Named after its text: one name never stands for two texts on a connection, whichever
      // repository prepared it first.
      statement = { name: `task_transition_${createHash("sha256").update(text).digest("hex").slice(0, 16)}`, text };
      this.transitions.set(text, statement);
    }
    return { statement, values };
  }

  private async settle(client: Queryable, task: Task, change: TaskChange): Promise<void> {
    const settlement = change.credits !== undefined && task.creditsHeld > 0 ? change.credits : null;
    // A capture moves nothing: the hold already left the balance. It records that it is final.
    const returned = settlement === "release" ? task.creditsHeld : 0;
    const callback = change.callbackId !== undefined && task.callbackUrl !== null;
    await client.query(STATEMENTS.settle.text, [
      task.accountId,
      task.id,
      isTerminal(task.state) ? 1 : 0,
      returned,
      settlement,
      change.updateTime,
      callback ? change.callbackId : null,
      callback ? task.callbackUrl : null,
      callback ? callbackPayload(task) : null,
    ]);
  }

  async countUpstreamAttempt(taskId: string): Promise<void> {
    await this.database.query(STATEMENTS.countUpstreamAttempt, [taskId]);
  }

  async listActive(): Promise<Task[]> {
    const { rows } = await this.database.query<TaskRow>(STATEMENTS.listActive);
    return rows.map(toTask);
  }

  async listIdleActive(updatedBefore: number, afterId: string | null, limit: number): Promise<Array<Pick<Task, "id" | "state">>> {
    const { rows } = await this.database.query<Pick<Task, "id" | "state">>(STATEMENTS.listIdleActive, [updatedBefore, afterId ?? "", limit]);
    return rows;
  }

  async listOverdue(now: number, limit: number): Promise<Task[]> {
    const { rows } = await this.database.query<TaskRow>(STATEMENTS.listOverdue, [now, limit]);
    return rows.map(toTask);
  }

  async countForAccount(accountId: string): Promise<number> {
    const { rows } = await this.database.query<{ count: number }>(STATEMENTS.countForAccount, [accountId]);
    return rows[0]?.count ?? 0;
  }

  async claimIdempotencyKey(claim: Parameters<TaskRepository["claimIdempotencyKey"]>[0]): Promise<IdempotencyClaim> {
    return this.database.transaction(async (client): Promise<IdempotencyClaim> => {
      const claimed = await client.query(STATEMENTS.claimIdempotency.text, [
        claim.accountId,
        claim.key,
        claim.requestHash,
        claim.now,
        claim.expiresAt,
        claim.staleBefore,
      ]);
      if (claimed.rowCount === 1) return { kind: "claimed" };
      const { rows } = await client.query<{ request_hash: string; task_id: string | null }>(STATEMENTS.findIdempotency.text, [
        claim.accountId,
        claim.key,
      ]);
      const existing = rows[0];
      if (existing === undefined) throw new Error("an idempotency key locked by its claim was not found");
      if (existing.request_hash !== claim.requestHash) return { kind: "mismatch" };
      return existing.task_id === null ? { kind: "in-flight" } : { kind: "replay", taskId: existing.task_id };
    });
  }

  async releaseIdempotencyKey(accountId: string, key: string): Promise<void> {
    await this.database.query(STATEMENTS.releaseIdempotency, [accountId, key]);
  }

  async deleteExpiredIdempotencyKeys(now: number): Promise<number> {
    let removed = 0;
    for (;;) {
      const { rowCount } = await this.database.query(STATEMENTS.expireIdempotency, [now]);
      removed += rowCount ?? 0;
      if ((rowCount ?? 0) < EXPIRED_KEYS_PER_BATCH) return removed;
    }
  }
}
