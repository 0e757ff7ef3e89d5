import type { CallbackDelivery, DeliveryAttempt, DeliveryState } from "../domain/callbacks/callback.ts";
import type { DeliveryDetails } from "../domain/callbacks/callback-service.ts";

/** A delivery as operators see it in a list: without its body. */
export interface DeliveryView {
  id: string;
  taskId: string;
  accountId: string;
  accountName: string | null;
  url: string;
  state: DeliveryState;
  attempts: number;
  createdAt: number;
  updatedAt: number;
  /** When the next attempt is due; null unless pending. */
  nextAttemptAt: number | null;
  deliveredAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
}

export type AttemptView = Omit<DeliveryAttempt, "deliveryId">;

export interface DeliveryDetailsView {
  delivery: DeliveryView & { payload: string };
  attempts: AttemptView[];
}

export function deliveryView(delivery: CallbackDelivery, accountName: string | null): DeliveryView {
  return {
    id: delivery.id,
    taskId: delivery.taskId,
    accountId: delivery.accountId,
    accountName,
    url: delivery.url,
    state: delivery.state,
    attempts: delivery.attempts,
    createdAt: delivery.createdAt,
    updatedAt: delivery.updatedAt,
    nextAttemptAt: delivery.state === "pending" ? delivery.nextAttemptAt : null,
    deliveredAt: delivery.deliveredAt,
    lastStatus: delivery.lastStatus,
    lastError: delivery.lastError,
  };
}

export function deliveryDetailsView(details: DeliveryDetails, accountName: string | null): DeliveryDetailsView {
  return {
    delivery: { ...deliveryView(details.delivery, accountName), payload: details.delivery.payload },
    attempts: details.attempts.map(({ deliveryId: _deliveryId, ...attempt }) => attempt),
  };
}

export interface WebhookSecretView {
  accountId: string;
  account: string;
  secret: string;
}
