import type { CallbackDelivery, DeliveryAttempt, DeliveryState } from "../domain/callbacks/callback.ts";

/** Rows of the callback tables as either database answers them, and their domain objects. */
export interface DeliveryRow {
  id: string;
  task_id: string;
  account_id: string;
  url: string;
  payload: string;
  state: string;
  attempts: number;
  next_attempt_at: number;
  created_at: number;
  updated_at: number;
  delivered_at: number | null;
  last_status: number | null;
  last_error: string | null;
  /** The run of the server that leased the delivery (see claimDue); null when not leased. */
  lease_owner: string | null;
}

export interface AttemptRow {
  delivery_id: string;
  at: number;
  status: number | null;
  duration_ms: number;
  error: string | null;
}

export function toDelivery(row: DeliveryRow): CallbackDelivery {
  return {
    id: row.id,
    taskId: row.task_id,
    accountId: row.account_id,
    url: row.url,
    payload: row.payload,
    state: row.state as DeliveryState,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deliveredAt: row.delivered_at,
    lastStatus: row.last_status,
    lastError: row.last_error,
  };
}

export function toAttempt(row: AttemptRow): DeliveryAttempt {
  return { deliveryId: row.delivery_id, at: row.at, status: row.status, durationMs: row.duration_ms, error: row.error };
}
