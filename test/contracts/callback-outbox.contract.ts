import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NO_OVERRIDES } from "../../src/domain/accounts/account.ts";
import type { OpenStorage, StorageFixture, StoragePorts } from "../helpers/stores.ts";
import { storedTask } from "../helpers/tasks.ts";

const NOW = 1_800_000_000_000;
const LEASE = 60_000;

/**
 * Settles a task of `accountId` with a callback at `at`: the only way a delivery enters the outbox
 * is in the transaction that settles its task. Answers the delivery's id.
 */
async function settledWithCallback(ports: StoragePorts, accountId: string, at: number, id: string): Promise<string> {
  const task = storedTask(accountId, at, { callbackUrl: `https://example.com/hook/${id}` });
  await ports.tasks.create(task, { activeLimit: 1_000, price: 0 });
  await ports.tasks.transition(task.id, ["queuing"], { state: "success", updateTime: at, completeTime: at, resultJson: "{}", callbackId: id });
  return id;
}

/** The whole behaviour of a CallbackOutbox, run against the adapter `open` builds. */
export function callbackOutboxContract(name: string, open: OpenStorage): void {
  describe(`${name}: CallbackOutbox`, () => {
    let store: StorageFixture;
    beforeEach(async () => {
      store = await open();
      for (const accountId of ["acct_a", "acct_b"]) {
        await store.accounts.createAccount({ id: accountId, name: accountId, createdAt: NOW, credits: 0, limits: NO_OVERRIDES });
      }
    });
    afterEach(async () => {
      await store.close();
    });

    it("hands out the due deliveries, earliest first and at most `limit`, leased until the lease ends", async () => {
      await settledWithCallback(store, "acct_a", NOW + 2, "msg_2");
      await settledWithCallback(store, "acct_a", NOW + 1, "msg_1");
      await settledWithCallback(store, "acct_b", NOW + 3, "msg_3");
      await settledWithCallback(store, "acct_b", NOW + 100, "msg_later");
      const first = await store.outbox.claimDue(NOW + 10, NOW + LEASE, 2, "run_a");
      expect(first.map((delivery) => delivery.id)).toEqual(["msg_1", "msg_2"]);
      expect(first[0]).toMatchObject({ taskId: expect.any(String), accountId: "acct_a", url: "https://example.com/hook/msg_1", state: "pending", attempts: 0 });
      expect((await store.outbox.claimDue(NOW + 10, NOW + LEASE, 10, "run_a")).map((delivery) => delivery.id)).toEqual(["msg_3"]);
      expect(await store.outbox.claimDue(NOW + 10, NOW + LEASE, 10, "run_b")).toEqual([]);
      // A lease not ended by an attempt expires: the delivery is due again.
      expect((await store.outbox.claimDue(NOW + LEASE, NOW + 2 * LEASE, 10, "run_b")).map((delivery) => delivery.id).sort()).toEqual([
        "msg_1",
        "msg_2",
        "msg_3",
        "msg_later",
      ]);
    });

    it("records an attempt and the next state, ending the lease", async () => {
      await settledWithCallback(store, "acct_a", NOW, "msg_1");
      await settledWithCallback(store, "acct_a", NOW, "msg_2");
      await store.outbox.claimDue(NOW, NOW + LEASE, 10, "run_a");
      await store.outbox.recordAttempt(
        { deliveryId: "msg_1", at: NOW + 1, status: 503, durationMs: 12, error: "receiver answered 503" },
        { state: "pending", nextAttemptAt: NOW + 5_000, deliveredAt: null },
      );
      await store.outbox.recordAttempt(
        { deliveryId: "msg_2", at: NOW + 2, status: 200, durationMs: 7, error: null },
        { state: "delivered", nextAttemptAt: NOW + 2, deliveredAt: NOW + 2 },
      );
      expect(await store.outbox.get("msg_1")).toMatchObject({
        state: "pending",
        attempts: 1,
        nextAttemptAt: NOW + 5_000,
        updatedAt: NOW + 1,
        deliveredAt: null,
        lastStatus: 503,
        lastError: "receiver answered 503",
      });
      expect(await store.outbox.get("msg_2")).toMatchObject({ state: "delivered", attempts: 1, deliveredAt: NOW + 2, lastStatus: 200, lastError: null });
      expect(await store.outbox.nextDue()).toBe(NOW + 5_000);
      expect((await store.outbox.claimDue(NOW + 5_000, NOW + LEASE, 10, "run_a")).map((delivery) => delivery.id)).toEqual(["msg_1"]);
      await store.outbox.recordAttempt(
        { deliveryId: "msg_1", at: NOW + 5_001, status: null, durationMs: 30_000, error: "timed out" },
        { state: "failed", nextAttemptAt: NOW + 5_001, deliveredAt: null },
      );
      expect(await store.outbox.attempts("msg_1")).toEqual([
        { deliveryId: "msg_1", at: NOW + 1, status: 503, durationMs: 12, error: "receiver answered 503" },
        { deliveryId: "msg_1", at: NOW + 5_001, status: null, durationMs: 30_000, error: "timed out" },
      ]);
      expect(await store.outbox.nextDue()).toBeNull();
      expect(await store.outbox.claimDue(NOW + LEASE * 10, NOW + LEASE * 11, 10, "run_a")).toEqual([]);
    });

    it("lists deliveries newest first by account, task and state; an unknown one is null", async () => {
      await settledWithCallback(store, "acct_a", NOW + 1, "msg_1");
      await settledWithCallback(store, "acct_b", NOW + 2, "msg_2");
      await settledWithCallback(store, "acct_a", NOW + 3, "msg_3");
      await store.outbox.recordAttempt({ deliveryId: "msg_3", at: NOW + 4, status: 200, durationMs: 1, error: null }, { state: "delivered", nextAttemptAt: NOW + 4, deliveredAt: NOW + 4 });
      const ids = async (filter: Parameters<StoragePorts["outbox"]["list"]>[0]) => (await store.outbox.list(filter)).map((delivery) => delivery.id);
      expect(await ids({ limit: 10 })).toEqual(["msg_3", "msg_2", "msg_1"]);
      expect(await ids({ limit: 2 })).toEqual(["msg_3", "msg_2"]);
      expect(await ids({ accountId: "acct_a", limit: 10 })).toEqual(["msg_3", "msg_1"]);
      expect(await ids({ accountId: "acct_a", state: "pending", limit: 10 })).toEqual(["msg_1"]);
      const taskId = (await store.outbox.get("msg_2"))?.taskId;
      expect(await ids({ taskId, limit: 10 })).toEqual(["msg_2"]);
      expect(await store.outbox.get("msg_none")).toBeNull();
      expect(await store.outbox.attempts("msg_none")).toEqual([]);
    });

    it("makes a delivery pending and due again on redelivery; false for an unknown one", async () => {
      await settledWithCallback(store, "acct_a", NOW, "msg_1");
      await store.outbox.claimDue(NOW, NOW + LEASE, 10, "run_a");
      await store.outbox.recordAttempt({ deliveryId: "msg_1", at: NOW + 1, status: 410, durationMs: 1, error: "gone" }, { state: "failed", nextAttemptAt: NOW + 1, deliveredAt: null });
      expect(await store.outbox.redeliver("msg_1", NOW + 50)).toBe(true);
      expect(await store.outbox.get("msg_1")).toMatchObject({ state: "pending", nextAttemptAt: NOW + 50, updatedAt: NOW + 50, attempts: 1 });
      expect(await store.outbox.nextDue()).toBe(NOW + 50);
      expect((await store.outbox.claimDue(NOW + 50, NOW + LEASE, 10, "run_b")).map((delivery) => delivery.id)).toEqual(["msg_1"]);
      expect(await store.outbox.redeliver("msg_none", NOW)).toBe(false);
    });

    it("never hands one delivery to two senders claiming together from two processes", async () => {
      const other = await store.another();
      const ids = [];
      for (let index = 0; index < 40; index += 1) ids.push(await settledWithCallback(store, "acct_a", NOW + index, `msg_${String(index).padStart(2, "0")}`));
      const claimed: string[][] = [[], []];
      await Promise.all(
        [store, other].flatMap((ports, sender) =>
          [0, 1, 2].map(async () => {
            for (;;) {
              const batch = await ports.outbox.claimDue(NOW + 100, NOW + LEASE, 3, `run_${sender}`);
              if (batch.length === 0) return;
              claimed[sender]?.push(...batch.map((delivery) => delivery.id));
            }
          }),
        ),
      );
      const all = claimed.flat();
      expect(all.sort()).toEqual(ids.sort());
      expect(new Set(all).size).toBe(40);
    });
  });
}
