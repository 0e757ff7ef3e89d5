import type { CallbackDelivery, CallbackOutbox, DeliveryAttempt, DeliveryFilter } from "../../domain/callbacks/callback.ts";
import { toAttempt, toDelivery, type AttemptRow, type DeliveryRow } from "../callback-rows.ts";
import type { NamedStatement, PostgresDatabase } from "./connection.ts";

const statement = (name: string, text: string): NamedStatement => ({ name: `outbox_${name}`, text });

const STATEMENTS = {
  /**
   * Locks the due rows, skipping those another sender is claiming at this moment, and leases them
   * in the same statement: two senders never get the same delivery. A row leased by a sender that
   * committed meanwhile is due no more when checked again, so it is left out too. Answers the rows
   * as they were before the lease, as a claim reads them.
   */
  claimDue: statement(
    "claim_due",
    `WITH due AS (
       SELECT * FROM callback_deliveries WHERE state = 'pending' AND next_attempt_at <= $1
       ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED
     ), leased AS (
       UPDATE callback_deliveries SET next_attempt_at = $2, lease_owner = $4 WHERE id IN (SELECT id FROM due)
     )
     SELECT * FROM due ORDER BY next_attempt_at, id`,
  ),
  /** The attempt and the delivery's next state in one statement, so in one transaction. */
  recordAttempt: statement(
    "record_attempt",
    `WITH attempt AS (
       INSERT INTO callback_attempts (delivery_id, at, status, duration_ms, error) VALUES ($1, $2, $3, $4, $5)
     )
     UPDATE callback_deliveries SET state = $6, attempts = attempts + 1, next_attempt_at = $7, updated_at = $2,
       delivered_at = $8, last_status = $3, last_error = $5, lease_owner = NULL
     WHERE id = $1`,
  ),
  get: statement("get", "SELECT * FROM callback_deliveries WHERE id = $1"),
  attempts: statement("attempts", "SELECT * FROM callback_attempts WHERE delivery_id = $1 ORDER BY id"),
  redeliver: statement(
    "redeliver",
    "UPDATE callback_deliveries SET state = 'pending', next_attempt_at = $2, updated_at = $2, lease_owner = NULL WHERE id = $1",
  ),
  nextDue: statement("next_due", "SELECT min(next_attempt_at) AS due FROM callback_deliveries WHERE state = 'pending'"),
};

/**
 * The callback outbox on PostgreSQL, shared by the senders of every worker process: a delivery is
 * claimed by one sender at a time, and a lease ends only by its attempt being recorded or by
 * expiring (a sender that died mid-attempt leaves its deliveries due again at the lease's end).
 */
export class PostgresCallbackOutbox implements CallbackOutbox {
  constructor(private readonly database: PostgresDatabase) {}

  async claimDue(now: number, leaseUntil: number, limit: number, leaseOwner: string): Promise<CallbackDelivery[]> {
    const { rows } = await this.database.query<DeliveryRow>(STATEMENTS.claimDue, [now, leaseUntil, limit, leaseOwner]);
    return rows.map(toDelivery);
  }

  async recordAttempt(attempt: DeliveryAttempt, next: Parameters<CallbackOutbox["recordAttempt"]>[1]): Promise<void> {
    await this.database.query(STATEMENTS.recordAttempt, [
      attempt.deliveryId,
      attempt.at,
      attempt.status,
      attempt.durationMs,
      attempt.error,
      next.state,
      next.nextAttemptAt,
      next.deliveredAt,
    ]);
  }

  async get(deliveryId: string): Promise<CallbackDelivery | null> {
    const { rows } = await this.database.query<DeliveryRow>(STATEMENTS.get, [deliveryId]);
    return rows[0] === undefined ? null : toDelivery(rows[0]);
  }

  async list(filter: DeliveryFilter): Promise<CallbackDelivery[]> {
    const values: unknown[] = [];
    const conditions: string[] = [];
    const where = (column: string, value: string | undefined): void => {
      if (value === undefined) return;
      values.push(value);
      conditions.push(`${column} = $${values.length}`);
    };
    where("account_id", filter.accountId);
    where("task_id", filter.taskId);
    where("state", filter.state);
    values.push(filter.limit);
    const clause = conditions.length === 0 ? "" : `WHERE ${conditions.join(" AND ")}`;
    const { rows } = await this.database.query<DeliveryRow>(
      `SELECT * FROM callback_deliveries ${clause} ORDER BY created_at DESC, id DESC LIMIT $${values.length}`,
      values,
    );
    return rows.map(toDelivery);
  }

  async attempts(deliveryId: string): Promise<DeliveryAttempt[]> {
    const { rows } = await this.database.query<AttemptRow>(STATEMENTS.attempts, [deliveryId]);
    return rows.map(toAttempt);
  }

  async redeliver(deliveryId: string, now: number): Promise<boolean> {
    const { rowCount } = await this.database.query(STATEMENTS.redeliver, [deliveryId, now]);
    return rowCount === 1;
  }

  async nextDue(): Promise<number | null> {
    const { rows } = await this.database.query<{ due: number | null }>(STATEMENTS.nextDue);
    return rows[0]?.due ?? null;
  }
}
