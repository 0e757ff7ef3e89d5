import type { AccountService, Actor } from "../accounts/account-service.ts";
import type { Clock } from "../clock.ts";
import { failure, success, type Failure, type Result } from "../errors.ts";
import type { CallbackDelivery, CallbackOutbox, DeliveryAttempt, DeliveryState } from "./callback.ts";

export const DELIVERY_STATES: readonly DeliveryState[] = ["pending", "delivered", "failed"];

/** More deliveries than one task ever has (it settles once), so none is left out. */
const TASK_DELIVERIES = 10;

export interface DeliveryQuery {
  /** The account's name or id. */
  account?: string;
  taskId?: string;
  state?: DeliveryState;
  limit: number;
}

export interface DeliveryDetails {
  delivery: CallbackDelivery;
  /** Every attempt, oldest first. */
  attempts: DeliveryAttempt[];
}

export interface CallbackServiceOptions {
  /**
   * Called after a redelivery is queued. The server sets it to the sender's wake(), so the
   * delivery leaves at once; elsewhere (the CLI) the running server's sender finds it at its next poll.
   */
  onRedeliver?: () => void;
}

/** What operators do with callbacks: read deliveries with their attempts, and send one again. */
export class CallbackService {
  constructor(
    private readonly outbox: CallbackOutbox,
    private readonly accounts: AccountService,
    private readonly clock: Clock,
    private readonly options: CallbackServiceOptions = {},
  ) {}

  /** Deliveries, newest first; NOT_FOUND when the account named does not exist. */
  async listDeliveries(query: DeliveryQuery): Promise<Result<CallbackDelivery[]>> {
    let accountId: string | undefined;
    if (query.account !== undefined) {
      const account = await this.accounts.requireAccount(query.account);
      if (!account.ok) return account;
      accountId = account.value.id;
    }
    return success(
      await this.outbox.list({
        limit: query.limit,
        ...(accountId === undefined ? {} : { accountId }),
        ...(query.taskId === undefined ? {} : { taskId: query.taskId }),
        ...(query.state === undefined ? {} : { state: query.state }),
      }),
    );
  }

  async showDelivery(deliveryId: string): Promise<Result<DeliveryDetails>> {
    const delivery = await this.outbox.get(deliveryId);
    if (delivery === null) return notFound(deliveryId);
    return success({ delivery, attempts: await this.outbox.attempts(deliveryId) });
  }

  /**
   * The deliveries of one of the account's tasks, newest first, each with its attempts: one
   * delivery once a task with a callBackUrl has ended, none before or without one.
   */
  async deliveriesOfTask(accountId: string, taskId: string): Promise<DeliveryDetails[]> {
    const deliveries = await this.outbox.list({ accountId, taskId, limit: TASK_DELIVERIES });
    return Promise.all(deliveries.map(async (delivery) => ({ delivery, attempts: await this.outbox.attempts(delivery.id) })));
  }

  /**
   * Makes the delivery pending again and due now, whatever its state: the same body and
   * webhook-id, signed afresh with the account's current secret. Answers the delivery as queued.
   */
  async redeliver(deliveryId: string, actor: Actor): Promise<Result<CallbackDelivery>> {
    const before = await this.outbox.get(deliveryId);
    if (before === null || !(await this.outbox.redeliver(deliveryId, this.clock.now()))) return notFound(deliveryId);
    // Read before waking the sender, so the answer shows the delivery queued rather than half sent.
    const queued = (await this.outbox.get(deliveryId)) ?? before;
    await this.accounts.audit(actor, "callback.redeliver", deliveryId, {
      taskId: before.taskId,
      account: before.accountId,
      previousState: before.state,
    });
    this.options.onRedeliver?.();
    return success(queued);
  }
}

function notFound(deliveryId: string): Failure {
  return failure("NOT_FOUND", `no callback delivery with id ${deliveryId}`);
}
