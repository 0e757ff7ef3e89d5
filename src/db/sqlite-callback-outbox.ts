import type SqliteDatabase from "better-sqlite3";
import type { CallbackDelivery, CallbackOutbox, DeliveryAttempt, DeliveryFilter } from "../domain/callbacks/callback.ts";
import { toAttempt, toDelivery, type AttemptRow, type DeliveryRow } from "./callback-rows.ts";
import type { SqliteGroupCommit } from "./sqlite-group-commit.ts";

function prepareStatements(database: SqliteDatabase.Database) {
  const prepare = (sql: string) => database.prepare(sql);
  return {
    due: prepare(
      "SELECT * FROM callback_deliveries WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
    ),
    lease: prepare("UPDATE callback_deliveries SET next_attempt_at = ?, lease_owner = ? WHERE id = ?"),
    insertAttempt: prepare(
      "INSERT INTO callback_attempts (delivery_id, at, status, duration_ms, error) VALUES (@deliveryId, @at, @status, @durationMs, @error)",
    ),
    updateDelivery: prepare(
      `UPDATE callback_deliveries SET state = @state, attempts = attempts + 1, next_attempt_at = @nextAttemptAt,
         updated_at = @at, delivered_at = @deliveredAt, last_status = @status, last_error = @error, lease_owner = NULL
       WHERE id = @deliveryId`,
    ),
    get: prepare("SELECT * FROM callback_deliveries WHERE id = ?"),
    attempts: prepare("SELECT * FROM callback_attempts WHERE delivery_id = ? ORDER BY id"),
    redeliver: prepare(
      "UPDATE callback_deliveries SET state = 'pending', next_attempt_at = @now, updated_at = @now, lease_owner = NULL WHERE id = @deliveryId",
    ),
    releaseOtherLeases: prepare(
      `UPDATE callback_deliveries SET next_attempt_at = min(next_attempt_at, @now), lease_owner = NULL
       WHERE state = 'pending' AND lease_owner IS NOT NULL AND lease_owner <> @owner`,
    ),
    nextDue: prepare("SELECT min(next_attempt_at) AS due FROM callback_deliveries WHERE state = 'pending'"),
  };
}

/**
 * The callback outbox on the embedded SQLite database. Its writes go through the group commit, as
 * the tasks' do: a callback's attempt is recorded in a commit shared with whatever else was
 * written in the same turn, and the log is flushed off the event loop, instead of a commit and an
 * fsync of its own on the event loop for every callback sent.
 */
export class SqliteCallbackOutbox implements CallbackOutbox {
  private readonly statements: ReturnType<typeof prepareStatements>;

  constructor(
    private readonly database: SqliteDatabase.Database,
    private readonly groupCommit: SqliteGroupCommit,
  ) {
    this.statements = prepareStatements(database);
  }

  /**
   * Resolves once the leases are committed, without waiting for the disk: a lease lost to a crash
   * only makes the delivery due again at the next start, which it is anyway, its attempt unrecorded.
   */
  async claimDue(now: number, leaseUntil: number, limit: number, leaseOwner: string): Promise<CallbackDelivery[]> {
    return this.groupCommit.submit(() => {
      const rows = this.statements.due.all(now, limit) as DeliveryRow[];
      for (const row of rows) this.statements.lease.run(leaseUntil, leaseOwner, row.id);
      return rows.map(toDelivery);
    }, "committed");
  }

  /**
   * Makes every delivery leased by another owner than `owner` due at `now`: their attempts were
   * interrupted by the end of the run that claimed them (a crash), and would otherwise wait for
   * their whole lease. Only the embedded server calls this, at start, and only because it is then
   * the one process sending callbacks from this database: a lease of another owner cannot belong to
   * a live sender. A deployment of several processes sharing one outbox must never call it; there
   * a lease ends only by expiring. Answers how many leases were released; resolves once committed,
   * since a release lost to a crash is done again at the next start.
   */
  async releaseOtherLeasesAsSoleProcess(owner: string, now: number): Promise<number> {
    return this.groupCommit.submit(() => this.statements.releaseOtherLeases.run({ owner, now }).changes, "committed");
  }

  async recordAttempt(attempt: DeliveryAttempt, next: Parameters<CallbackOutbox["recordAttempt"]>[1]): Promise<void> {
    await this.groupCommit.submit(() => {
      this.statements.insertAttempt.run(attempt);
      this.statements.updateDelivery.run({
        deliveryId: attempt.deliveryId,
        state: next.state,
        nextAttemptAt: next.nextAttemptAt,
        deliveredAt: next.deliveredAt,
        at: attempt.at,
        status: attempt.status,
        error: attempt.error,
      });
    });
  }

  async get(deliveryId: string): Promise<CallbackDelivery | null> {
    const row = this.statements.get.get(deliveryId) as DeliveryRow | undefined;
    return row === undefined ? null : toDelivery(row);
  }

  async list(filter: DeliveryFilter): Promise<CallbackDelivery[]> {
    const conditions: string[] = [];
    if (filter.accountId !== undefined) conditions.push("account_id = @accountId");
    if (filter.taskId !== undefined) conditions.push("task_id = @taskId");
    if (filter.state !== undefined) conditions.push("state = @state");
    const where = conditions.length === 0 ? "" : `WHERE ${conditions.join(" AND ")}`;
    const rows = this.database
      .prepare(`SELECT * FROM callback_deliveries ${where} ORDER BY created_at DESC, id DESC LIMIT @limit`)
      .all(filter) as DeliveryRow[];
    return rows.map(toDelivery);
  }

  async attempts(deliveryId: string): Promise<DeliveryAttempt[]> {
    return (this.statements.attempts.all(deliveryId) as AttemptRow[]).map(toAttempt);
  }

  async redeliver(deliveryId: string, now: number): Promise<boolean> {
    return this.groupCommit.submit(() => this.statements.redeliver.run({ deliveryId, now }).changes > 0);
  }

  async nextDue(): Promise<number | null> {
    return (this.statements.nextDue.get() as { due: number | null }).due;
  }
}
