import { rm } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openSqliteStore, type SqliteStore } from "../../src/db/sqlite-store.ts";
import { AccountService } from "../../src/domain/accounts/account-service.ts";
import type { CallbackDelivery, CallbackOutbox, DeliveryAttempt, DeliveryFilter } from "../../src/domain/callbacks/callback.ts";
import { CallbackService } from "../../src/domain/callbacks/callback-service.ts";
import { temporaryDirectory } from "../helpers/test-server.ts";

const START = Date.parse("2026-05-01T00:00:00Z");

/** The outbox port in memory: only the operator's side of it (get, list, attempts, redeliver). */
class MemoryOutbox implements CallbackOutbox {
  readonly deliveries = new Map<string, CallbackDelivery>();
  readonly attemptLog: DeliveryAttempt[] = [];

  async claimDue(): Promise<CallbackDelivery[]> {
    return [];
  }
  async recordAttempt(): Promise<void> {}
  async nextDue(): Promise<number | null> {
    return null;
  }
  async get(deliveryId: string): Promise<CallbackDelivery | null> {
    const delivery = this.deliveries.get(deliveryId);
    return delivery === undefined ? null : { ...delivery };
  }
  async list(filter: DeliveryFilter): Promise<CallbackDelivery[]> {
    return [...this.deliveries.values()]
      .filter((delivery) => filter.accountId === undefined || delivery.accountId === filter.accountId)
      .filter((delivery) => filter.taskId === undefined || delivery.taskId === filter.taskId)
      .filter((delivery) => filter.state === undefined || delivery.state === filter.state)
      .slice(0, filter.limit);
  }
  async attempts(deliveryId: string): Promise<DeliveryAttempt[]> {
    return this.attemptLog.filter((attempt) => attempt.deliveryId === deliveryId);
  }
  async redeliver(deliveryId: string, now: number): Promise<boolean> {
    const delivery = this.deliveries.get(deliveryId);
    if (delivery === undefined) return false;
    this.deliveries.set(deliveryId, { ...delivery, state: "pending", nextAttemptAt: now, updatedAt: now });
    return true;
  }
}

function failedDelivery(id: string, accountId: string): CallbackDelivery {
  return {
    id,
    taskId: `task_${id}`,
    accountId,
    url: "https://receiver.example/hook",
    payload: '{"code":200,"msg":"success","data":{}}',
    state: "failed",
    attempts: 1,
    nextAttemptAt: START,
    createdAt: START,
    updatedAt: START,
    deliveredAt: null,
    lastStatus: 410,
    lastError: "receiver answered 410 Gone",
  };
}

describe("CallbackService", () => {
  let dataDir: string;
  let store: SqliteStore;
  let accounts: AccountService;
  let outbox: MemoryOutbox;
  let wakes: string[];
  let service: CallbackService;
  const clock = { now: () => START + 60_000 };

  beforeEach(async () => {
    dataDir = await temporaryDirectory();
    store = await openSqliteStore(dataDir);
    accounts = new AccountService(store.accounts, clock);
    outbox = new MemoryOutbox();
    wakes = [];
    // The hook records the delivery's state when it is called: the redelivery must be queued by then.
    service = new CallbackService(outbox, accounts, clock, {
      onRedeliver: () => wakes.push([...outbox.deliveries.values()].map((delivery) => delivery.state).join(",")),
    });
  });

  afterEach(async () => {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("lists by account name or id, and answers NOT_FOUND for an unknown account", async () => {
    const alpha = await accounts.createAccount("alpha");
    const bravo = await accounts.createAccount("bravo");
    if (!alpha.ok || !bravo.ok) throw new Error("setup failed");
    outbox.deliveries.set("msg_a", failedDelivery("msg_a", alpha.value.id));
    outbox.deliveries.set("msg_b", failedDelivery("msg_b", bravo.value.id));

    const byName = await service.listDeliveries({ account: "alpha", limit: 10 });
    expect(byName.ok && byName.value.map((delivery) => delivery.id)).toEqual(["msg_a"]);
    const byId = await service.listDeliveries({ account: bravo.value.id, state: "failed", limit: 10 });
    expect(byId.ok && byId.value.map((delivery) => delivery.id)).toEqual(["msg_b"]);
    expect(await service.listDeliveries({ account: "nobody", limit: 10 })).toEqual({
      ok: false,
      code: "NOT_FOUND",
      message: "no account named nobody",
    });
  });

  it("redeliver makes the delivery pending and due now, audits it, then calls the hook", async () => {
    const alpha = await accounts.createAccount("alpha");
    if (!alpha.ok) throw new Error("setup failed");
    outbox.deliveries.set("msg_a", failedDelivery("msg_a", alpha.value.id));

    const queued = await service.redeliver("msg_a", "admin-api");
    expect(queued).toEqual({
      ok: true,
      value: { ...failedDelivery("msg_a", alpha.value.id), state: "pending", nextAttemptAt: clock.now(), updatedAt: clock.now() },
    });
    expect(wakes).toEqual(["pending"]);
    expect(await accounts.listAudit(10)).toContainEqual({
      at: clock.now(),
      actor: "admin-api",
      action: "callback.redeliver",
      target: "msg_a",
      details: { taskId: "task_msg_a", account: alpha.value.id, previousState: "failed" },
    });
  });

  it("an unknown delivery is NOT_FOUND: nothing audited, the sender not woken", async () => {
    const failure = { ok: false, code: "NOT_FOUND", message: "no callback delivery with id msg_unknown" };
    expect(await service.redeliver("msg_unknown", "cli")).toEqual(failure);
    expect(await service.showDelivery("msg_unknown")).toEqual(failure);
    expect(wakes).toEqual([]);
    expect(await accounts.listAudit(10)).toEqual([]);
  });

  it("showDelivery answers the delivery with its body and attempts, oldest first", async () => {
    outbox.deliveries.set("msg_a", failedDelivery("msg_a", "acct_x"));
    const attempt = { deliveryId: "msg_a", at: START, status: 410, durationMs: 12, error: "receiver answered 410 Gone" };
    outbox.attemptLog.push(attempt);
    expect(await service.showDelivery("msg_a")).toEqual({
      ok: true,
      value: { delivery: failedDelivery("msg_a", "acct_x"), attempts: [attempt] },
    });
  });
});
