import { toRecord, type Task } from "../tasks/task.ts";

export type DeliveryState = "pending" | "delivered" | "failed";

/** One callback to send: the outbox row written in the transaction that settled the task. */
export interface CallbackDelivery {
  /** `msg_...`: also the Standard Webhooks `webhook-id`, the same on every attempt. */
  id: string;
  taskId: string;
  accountId: string;
  url: string;
  /** The exact JSON body to POST: what recordInfo answered when the task settled. */
  payload: string;
  state: DeliveryState;
  attempts: number;
  /** Epoch ms of the next attempt while pending. */
  nextAttemptAt: number;
  createdAt: number;
  updatedAt: number;
  deliveredAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
}

export interface DeliveryAttempt {
  deliveryId: string;
  at: number;
  /** HTTP status answered, or null when none came (refused, network error, timeout). */
  status: number | null;
  durationMs: number;
  error: string | null;
}

/** The body of a task's callback: the recordInfo envelope at the moment it settled. */
export function callbackPayload(task: Task): string {
  return JSON.stringify({ code: 200, msg: "success", data: toRecord(task) });
}

export interface DeliveryFilter {
  accountId?: string;
  taskId?: string;
  state?: DeliveryState;
  limit: number;
}

export interface CallbackOutbox {
  /**
   * Pending deliveries due at `now`, leased until `leaseUntil` so that a second sender (another
   * process, or a slow attempt) does not send the same one at the same time. `leaseOwner` names
   * the claiming sender's run; recording the attempt ends the lease.
   */
  claimDue(now: number, leaseUntil: number, limit: number, leaseOwner: string): Promise<CallbackDelivery[]>;
  /** Records an attempt and the delivery's next state, and ends its lease, in one transaction. */
  recordAttempt(
    attempt: DeliveryAttempt,
    next: { state: DeliveryState; nextAttemptAt: number; deliveredAt: number | null },
  ): Promise<void>;
  get(deliveryId: string): Promise<CallbackDelivery | null>;
  list(filter: DeliveryFilter): Promise<CallbackDelivery[]>;
  attempts(deliveryId: string): Promise<DeliveryAttempt[]>;
  /** Makes a delivery pending again, due at `now`; false when there is no such delivery. */
  redeliver(deliveryId: string, now: number): Promise<boolean>;
  /** The earliest nextAttemptAt of pending deliveries, or null when none is pending. */
  nextDue(): Promise<number | null>;
}
