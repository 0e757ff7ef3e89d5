import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { callbackPayload } from "../../src/domain/callbacks/callback.ts";
import { newId } from "../../src/domain/ids.ts";
import type { Admission } from "../../src/domain/tasks/ports.ts";
import { toRecord, type Task } from "../../src/domain/tasks/task.ts";
import type { OpenStorage, StorageFixture, StoragePorts } from "../helpers/stores.ts";
import { storedTask } from "../helpers/tasks.ts";

const NOW = 1_800_000_000_000;
const OPEN: Admission = { activeLimit: 1_000, price: 0 };

/** An account with `credits` granted, made through the account port. */
async function account(ports: StoragePorts, credits = 0): Promise<string> {
  const id = newId("acct", NOW);
  await ports.accounts.createAccount({ id, name: id, createdAt: NOW, credits: 0, limits: { activeTasks: null, createTask: null, other: null } });
  if (credits > 0) await ports.accounts.adjustCredits({ accountId: id, amount: credits, kind: "grant", reason: "test", actor: "test", now: NOW });
  return id;
}

async function balance(ports: StoragePorts, accountId: string): Promise<number | undefined> {
  return (await ports.accounts.findAccountById(accountId))?.credits;
}

/** The ledger's lines of one task, as kind and amount. */
async function settlementsOf(ports: StoragePorts, accountId: string, taskId: string): Promise<string[]> {
  const lines = await ports.accounts.ledger(accountId, 1_000);
  return lines.filter((line) => line.taskId === taskId).map((line) => `${line.kind} ${line.amount}`).sort();
}

/** The whole behaviour of a TaskRepository, run against the adapter `open` builds. */
export function taskRepositoryContract(name: string, open: OpenStorage): void {
  describe(`${name}: TaskRepository`, () => {
    let store: StorageFixture;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    describe("create", () => {
      it("stores the task with its hold: the balance drops by the price and the ledger records the hold", async () => {
        const accountId = await account(store, 100);
        const task = storedTask(accountId, NOW);
        expect(await store.tasks.create(task, { activeLimit: 5, price: 30 })).toBe("created");
        expect(await store.tasks.get(task.id)).toEqual({ ...task, creditsHeld: 30 });
        expect(await store.tasks.getForAccount(task.id, accountId)).toEqual({ ...task, creditsHeld: 30 });
        expect(await balance(store, accountId)).toBe(70);
        expect(await settlementsOf(store, accountId, task.id)).toEqual(["hold -30"]);
        expect(await store.accounts.ledgerSum(accountId)).toBe(70);
      });

      it("holds nothing and writes no ledger line at price 0", async () => {
        const accountId = await account(store);
        const task = storedTask(accountId, NOW);
        expect(await store.tasks.create(task, OPEN)).toBe("created");
        expect(await balance(store, accountId)).toBe(0);
        expect(await settlementsOf(store, accountId, task.id)).toEqual([]);
      });

      it("refuses past the active limit or the balance, writing nothing; the limit is checked first", async () => {
        const accountId = await account(store, 10);
        expect(await store.tasks.create(storedTask(accountId, NOW), { activeLimit: 1, price: 5 })).toBe("created");
        expect(await store.tasks.create(storedTask(accountId, NOW), { activeLimit: 1, price: 50 })).toBe("ACTIVE_LIMIT");
        expect(await store.tasks.create(storedTask(accountId, NOW), { activeLimit: 5, price: 6 })).toBe("INSUFFICIENT_CREDITS");
        expect(await store.tasks.countForAccount(accountId)).toBe(1);
        expect(await balance(store, accountId)).toBe(5);
        expect(await store.accounts.ledgerSum(accountId)).toBe(5);
      });

      it("50 creates at once from two processes on a balance covering 10: exactly 10 created, never below zero", async () => {
        const other = await store.another();
        const accountId = await account(store, 100);
        const outcomes = await Promise.all(
          Array.from({ length: 50 }, (_, index) => (index % 2 === 0 ? store : other).tasks.create(storedTask(accountId, NOW + index), { activeLimit: 1_000, price: 10 })),
        );
        expect(outcomes.filter((outcome) => outcome === "created")).toHaveLength(10);
        expect(outcomes.filter((outcome) => outcome === "INSUFFICIENT_CREDITS")).toHaveLength(40);
        expect(await balance(store, accountId)).toBe(0);
        expect(await store.accounts.ledgerSum(accountId)).toBe(0);
        expect(await store.tasks.countForAccount(accountId)).toBe(10);
      });

      it("50 creates at once from two processes under an active limit of 10: exactly 10 created, the rest ACTIVE_LIMIT", async () => {
        const other = await store.another();
        const accountId = await account(store, 1_000);
        const outcomes = await Promise.all(
          Array.from({ length: 50 }, (_, index) => (index % 2 === 0 ? store : other).tasks.create(storedTask(accountId, NOW + index), { activeLimit: 10, price: 1 })),
        );
        expect(outcomes.filter((outcome) => outcome === "created")).toHaveLength(10);
        expect(outcomes.filter((outcome) => outcome === "ACTIVE_LIMIT")).toHaveLength(40);
        expect(await balance(store, accountId)).toBe(990);
      });

      it("creates at once for three accounts from two processes, each at the edge of its balance or limit: each admits exactly what fits", async () => {
        const other = await store.another();
        const [poor, limited, free] = [await account(store, 55), await account(store, 1_000), await account(store)];
        const admissions = new Map([
          [poor, { activeLimit: 1_000, price: 10 }],
          [limited, { activeLimit: 7, price: 1 }],
          [free, { activeLimit: 3, price: 0 }],
        ]);
        const creates = Array.from({ length: 60 }, (_, index) => {
          const accountId = [poor, limited, free][index % 3] ?? poor;
          return { accountId, outcome: (index % 2 === 0 ? store : other).tasks.create(storedTask(accountId, NOW + index), admissions.get(accountId) ?? OPEN) };
        });
        const outcomes = await Promise.all(creates.map(async ({ accountId, outcome }) => `${accountId} ${await outcome}`));
        const count = (accountId: string, outcome: string) => outcomes.filter((line) => line === `${accountId} ${outcome}`).length;
        expect([count(poor, "created"), count(poor, "INSUFFICIENT_CREDITS")]).toEqual([5, 15]);
        expect([count(limited, "created"), count(limited, "ACTIVE_LIMIT")]).toEqual([7, 13]);
        expect([count(free, "created"), count(free, "ACTIVE_LIMIT")]).toEqual([3, 17]);
        for (const [accountId, left, stored] of [[poor, 5, 5], [limited, 993, 7], [free, 0, 3]] as const) {
          expect(await balance(store, accountId)).toBe(left);
          expect(await store.accounts.ledgerSum(accountId)).toBe(left);
          expect(await store.tasks.countForAccount(accountId)).toBe(stored);
        }
      });

      it("creates at once of different prices never take the balance below zero, and refuse only what the balance left could not cover", async () => {
        const other = await store.another();
        const accountId = await account(store, 40);
        const prices = Array.from({ length: 30 }, (_, index) => [3, 8, 13][index % 3] ?? 3);
        const outcomes = await Promise.all(
          prices.map((price, index) => (index % 2 === 0 ? store : other).tasks.create(storedTask(accountId, NOW + index), { activeLimit: 1_000, price })),
        );
        const spent = prices.reduce((sum, price, index) => (outcomes[index] === "created" ? sum + price : sum), 0);
        const left = await balance(store, accountId);
        expect(left).toBe(40 - spent);
        expect(await store.accounts.ledgerSum(accountId)).toBe(40 - spent);
        // A create refused for credits saw less than its price, and the balance only fell after.
        prices.forEach((price, index) => {
          if (outcomes[index] === "INSUFFICIENT_CREDITS") expect(price).toBeGreaterThan(left ?? 0);
        });
        expect(await store.tasks.countForAccount(accountId)).toBe(outcomes.filter((outcome) => outcome === "created").length);
      });

      it("creates at once that all fit record each hold, in order, with the balance after it", async () => {
        const accountId = await account(store, 100);
        const tasks = [0, 1, 2, 3, 4].map((index) => storedTask(accountId, NOW + index));
        const prices = [5, 10, 0, 20, 1];
        const outcomes = await Promise.all(tasks.map((task, index) => store.tasks.create(task, { activeLimit: 5, price: prices[index] ?? 0 })));
        expect(outcomes).toEqual(Array.from({ length: 5 }, () => "created"));
        const holds = (await store.accounts.ledger(accountId, 100)).filter((line) => line.kind === "hold").reverse();
        expect(holds.map((line) => [line.taskId, line.amount, line.balanceAfter])).toEqual([
          [tasks[0]?.id, -5, 95],
          [tasks[1]?.id, -10, 85],
          [tasks[3]?.id, -20, 65],
          [tasks[4]?.id, -1, 64],
        ]);
        expect(await balance(store, accountId)).toBe(64);
        expect(await store.tasks.create(storedTask(accountId, NOW + 5), { activeLimit: 5, price: 1 })).toBe("ACTIVE_LIMIT");
      });

      it("a create that fails (its id already taken) fails alone: the creates made at once with it are stored and held", async () => {
        const accountId = await account(store, 100);
        const first = storedTask(accountId, NOW);
        expect(await store.tasks.create(first, { activeLimit: 100, price: 5 })).toBe("created");
        const others = [1, 2, 3, 4].map((index) => storedTask(accountId, NOW + index));
        const outcomes = await Promise.allSettled([
          store.tasks.create(others[0] as Task, { activeLimit: 100, price: 5 }),
          store.tasks.create(others[1] as Task, { activeLimit: 100, price: 5 }),
          store.tasks.create({ ...first, param: "{}" }, { activeLimit: 100, price: 5 }),
          store.tasks.create(others[2] as Task, { activeLimit: 100, price: 5 }),
          store.tasks.create(others[3] as Task, { activeLimit: 100, price: 5 }),
        ]);
        expect(outcomes.map((outcome) => outcome.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"]);
        expect(await store.tasks.get(first.id)).toEqual({ ...first, creditsHeld: 5 });
        for (const task of others) expect(await store.tasks.get(task.id)).toEqual({ ...task, creditsHeld: 5 });
        expect(await balance(store, accountId)).toBe(75);
        expect(await store.accounts.ledgerSum(accountId)).toBe(75);
        expect(await store.tasks.countForAccount(accountId)).toBe(5);
      });

      it("links a claimed Idempotency-Key to the task in the same write", async () => {
        const accountId = await account(store);
        const claim = { accountId, key: "k1", requestHash: "h1", now: NOW, expiresAt: NOW + 1_000, staleBefore: NOW - 1_000 };
        expect(await store.tasks.claimIdempotencyKey(claim)).toEqual({ kind: "claimed" });
        const task = storedTask(accountId, NOW);
        expect(await store.tasks.create(task, { ...OPEN, idempotencyKey: "k1" })).toBe("created");
        expect(await store.tasks.claimIdempotencyKey(claim)).toEqual({ kind: "replay", taskId: task.id });
      });
    });

    describe("reads", () => {
      it("hide another account's task, and answer null for an unknown one", async () => {
        const [mine, theirs] = [await account(store), await account(store)];
        const task = storedTask(theirs, NOW);
        await store.tasks.create(task, OPEN);
        expect(await store.tasks.getForAccount(task.id, mine)).toBeNull();
        expect(await store.tasks.getRecordForAccount(task.id, mine)).toBeNull();
        expect(await store.tasks.get("task_unknown")).toBeNull();
        expect(await store.tasks.getRecordForAccount("task_unknown", theirs)).toBeNull();
      });

      it("made at once answer each caller its own task's record, and none of another account's", async () => {
        const [mine, theirs] = [await account(store), await account(store)];
        const [task, their] = [storedTask(mine, NOW), storedTask(theirs, NOW + 1)];
        await Promise.all([store.tasks.create(task, OPEN), store.tasks.create(their, OPEN)]);
        const records = await Promise.all([
          store.tasks.getRecordForAccount(task.id, mine),
          store.tasks.getRecordForAccount(their.id, mine),
          store.tasks.getRecordForAccount(their.id, theirs),
          store.tasks.getRecordForAccount(task.id, theirs),
          store.tasks.getRecordForAccount("task_unknown", mine),
          store.tasks.getRecordForAccount(task.id, mine),
        ]);
        expect(records).toEqual([toRecord(task), null, toRecord(their), null, null, toRecord(task)]);
      });

      it("answer the record recordInfo shows, frozen, and a change made by another process at the next read", async () => {
        const other = await store.another();
        const accountId = await account(store, 10);
        const task = storedTask(accountId, NOW);
        await store.tasks.create(task, { activeLimit: 5, price: 10 });
        const record = await store.tasks.getRecordForAccount(task.id, accountId);
        expect(record).toEqual(toRecord({ ...task, creditsHeld: 10 }));
        expect(Object.isFrozen(record)).toBe(true);

        const changed = await other.tasks.transition(task.id, ["queuing"], {
          state: "success",
          updateTime: NOW + 5,
          completeTime: NOW + 5,
          resultJson: '{"resultUrls":["https://example.com/a.png"]}',
          credits: "capture",
        });
        expect(await store.tasks.getRecordForAccount(task.id, accountId)).toEqual(toRecord(changed as Task));
        expect(await store.tasks.getRecordForAccount(task.id, accountId)).toMatchObject({ state: "success", creditsConsumed: 10, costTime: 5 });
      });

      it("list the active tasks oldest first, the overdue ones by deadline, and count an account's tasks of every state", async () => {
        const accountId = await account(store);
        const tasks = [0, 1, 2, 3].map((index) => storedTask(accountId, NOW + index, { deadlineTime: NOW + 100 - index }));
        for (const task of [...tasks].reverse()) await store.tasks.create(task, OPEN);
        const [first, second, third, fourth] = tasks as [Task, Task, Task, Task];
        await store.tasks.transition(second.id, ["queuing"], { state: "fail", updateTime: NOW + 10, failCode: "INTERNAL", failMsg: "x" });
        expect((await store.tasks.listActive()).map((task) => task.id)).toEqual([first.id, third.id, fourth.id]);
        expect((await store.tasks.listOverdue(NOW + 99, 10)).map((task) => task.id)).toEqual([fourth.id, third.id]);
        expect((await store.tasks.listOverdue(NOW + 200, 1)).map((task) => task.id)).toEqual([fourth.id]);
        expect(await store.tasks.countForAccount(accountId)).toBe(4);
        expect(await store.tasks.countForAccount("acct_none")).toBe(0);
      });

      it("list the active tasks unchanged since a time, with their states, in id order, a page at a time", async () => {
        const accountId = await account(store);
        const tasks = [0, 1, 2, 3].map((index) => storedTask(accountId, NOW + index));
        for (const task of tasks) await store.tasks.create(task, OPEN);
        const [first, second, third, fourth] = tasks as [Task, Task, Task, Task];
        await store.tasks.transition(second.id, ["queuing"], { state: "fail", updateTime: NOW + 10, failCode: "INTERNAL", failMsg: "x" });
        await store.tasks.transition(third.id, ["queuing"], { state: "generating", updateTime: NOW + 50 });
        const ids = async (listed: Promise<Array<Pick<Task, "id" | "state">>>) => (await listed).map((task) => task.id);
        expect(await store.tasks.listIdleActive(NOW + 51, null, 10)).toEqual([
          { id: first.id, state: "queuing" },
          { id: third.id, state: "generating" },
          { id: fourth.id, state: "queuing" },
        ]);
        expect(await ids(store.tasks.listIdleActive(NOW + 20, null, 10))).toEqual([first.id, fourth.id]);
        expect(await ids(store.tasks.listIdleActive(NOW + 20, null, 1))).toEqual([first.id]);
        expect(await ids(store.tasks.listIdleActive(NOW + 20, first.id, 10))).toEqual([fourth.id]);
        expect(await ids(store.tasks.listIdleActive(NOW + 51, null, 10))).toEqual([first.id, third.id, fourth.id]);
        expect(await ids(store.tasks.listIdleActive(NOW, null, 10))).toEqual([]);
      });
    });

    describe("transition", () => {
      it("applies concurrent steps of many tasks each by its own guard, a task stepped twice at once only once", async () => {
        const accountId = await account(store);
        const tasks = Array.from({ length: 20 }, (_, index) => storedTask(accountId, NOW + index, { state: "waiting" }));
        for (const task of tasks) await store.tasks.create(task, OPEN);
        const [twice] = tasks as [Task];
        const outcomes = await Promise.all([
          ...tasks.map((task, index) =>
            store.tasks.transition(task.id, ["waiting"], { state: "queuing", updateTime: NOW + 100 + index }, "committed"),
          ),
          store.tasks.transition(twice.id, ["waiting"], { state: "queuing", updateTime: NOW + 500 }, "committed"),
          store.tasks.transition(tasks[1]?.id ?? "", ["waiting", "queuing"], { state: "generating", updateTime: NOW + 600, countAttempt: true }),
        ]);
        // The task queued twice at once: one of the two moved it, the other found it moved.
        expect([outcomes[0], outcomes[20]].filter((outcome) => outcome !== null)).toHaveLength(1);
        expect(outcomes.slice(2, 20).map((outcome) => outcome?.state)).toEqual(Array(18).fill("queuing"));
        const second = await store.tasks.get(tasks[1]?.id ?? "");
        expect(second?.state).toBe("generating");
        expect(second?.attempts).toBe(1);
        expect(second?.upstreamAttempts).toBe(1);
        expect(outcomes[21]).toMatchObject({ state: "generating", attempts: 1 });
      });

      it("applies a change only from the given states, and answers the updated task", async () => {
        const accountId = await account(store);
        const task = storedTask(accountId, NOW);
        await store.tasks.create(task, OPEN);
        expect(await store.tasks.transition(task.id, ["waiting"], { state: "generating", updateTime: NOW + 1 })).toBeNull();
        expect(await store.tasks.get(task.id)).toEqual(task);
        const started = await store.tasks.transition(task.id, ["waiting", "queuing"], { state: "generating", updateTime: NOW + 1, countAttempt: true });
        expect(started).toEqual({ ...task, state: "generating", updateTime: NOW + 1, attempts: 1, upstreamAttempts: 1 });
        expect(await store.tasks.get(task.id)).toEqual(started);
        expect(await store.tasks.transition("task_unknown", ["queuing"], { state: "generating", updateTime: NOW })).toBeNull();
      });

      it("refuses to move a task out of a terminal state", async () => {
        await expect(store.tasks.transition("task_any", ["success"], { state: "fail", updateTime: NOW })).rejects.toThrow();
      });

      it("waits only for the commit when asked, with the same outcome", async () => {
        const accountId = await account(store);
        const task = storedTask(accountId, NOW);
        await store.tasks.create(task, OPEN);
        const started = await store.tasks.transition(task.id, ["queuing"], { state: "generating", updateTime: NOW + 1 }, "committed");
        expect(started?.state).toBe("generating");
        expect((await store.tasks.get(task.id))?.state).toBe("generating");
      });

      it("captures the hold once on success, frees the active slot, and writes the callback to the outbox", async () => {
        const accountId = await account(store, 50);
        const task = storedTask(accountId, NOW, { callbackUrl: "https://example.com/hook" });
        await store.tasks.create(task, { activeLimit: 1, price: 20 });
        const change = { state: "success", updateTime: NOW + 7, completeTime: NOW + 7, resultJson: '{"resultUrls":[]}', credits: "capture", callbackId: "msg_1" } as const;
        const settled = await store.tasks.transition(task.id, ["queuing", "generating"], change);
        expect(settled).toMatchObject({ state: "success", completeTime: NOW + 7, creditsHeld: 20 });
        expect(await store.tasks.transition(task.id, ["queuing", "generating"], change)).toBeNull();
        expect(await settlementsOf(store, accountId, task.id)).toEqual(["capture 0", "hold -20"]);
        expect(await balance(store, accountId)).toBe(30);
        expect(await store.accounts.ledgerSum(accountId)).toBe(30);
        const deliveries = await store.outbox.list({ taskId: task.id, limit: 10 });
        expect(deliveries).toEqual([
          expect.objectContaining({ id: "msg_1", url: "https://example.com/hook", payload: callbackPayload(settled as Task), state: "pending", attempts: 0, nextAttemptAt: NOW + 7 }),
        ]);
        expect(await store.tasks.create(storedTask(accountId, NOW + 8), { activeLimit: 1, price: 20 })).toBe("created");
      });

      it("releases the hold once on failure, and writes no callback for a task without callBackUrl", async () => {
        const accountId = await account(store, 50);
        const task = storedTask(accountId, NOW);
        await store.tasks.create(task, { activeLimit: 1, price: 20 });
        const change = { state: "fail", updateTime: NOW + 3, completeTime: NOW + 3, failCode: "PROVIDER_ERROR", failMsg: "no", credits: "release", callbackId: "msg_2" } as const;
        expect(await store.tasks.transition(task.id, ["queuing"], change)).toMatchObject({ state: "fail", failCode: "PROVIDER_ERROR", failMsg: "no" });
        expect(await store.tasks.transition(task.id, ["queuing"], change)).toBeNull();
        expect(await settlementsOf(store, accountId, task.id)).toEqual(["hold -20", "release 20"]);
        expect(await balance(store, accountId)).toBe(50);
        expect(await store.accounts.ledgerSum(accountId)).toBe(50);
        expect(await store.outbox.list({ taskId: task.id, limit: 10 })).toEqual([]);
        expect(await store.tasks.create(storedTask(accountId, NOW + 8), { activeLimit: 1, price: 20 })).toBe("created");
      });

      it("settles once when a success and a failure race from two processes: one wins, its settlement alone is recorded", async () => {
        const other = await store.another();
        const accountId = await account(store, 100);
        const tasks = Array.from({ length: 10 }, (_, index) => storedTask(accountId, NOW + index, { callbackUrl: "https://example.com/hook" }));
        for (const task of tasks) await store.tasks.create(task, { activeLimit: 100, price: 10 });
        const results = await Promise.all(
          tasks.map((task, index) =>
            Promise.all([
              store.tasks.transition(task.id, ["queuing", "generating"], { state: "success", updateTime: NOW + 50, completeTime: NOW + 50, credits: "capture", callbackId: `msg_s${index}` }),
              other.tasks.transition(task.id, ["queuing", "generating"], { state: "fail", updateTime: NOW + 50, completeTime: NOW + 50, failCode: "TIMEOUT", failMsg: "late", credits: "release", callbackId: `msg_f${index}` }),
            ]),
          ),
        );
        let released = 0;
        for (const [index, [success, failure]] of results.entries()) {
          const task = tasks[index] as Task;
          expect([success, failure].filter((result) => result !== null)).toHaveLength(1);
          const winner = (success ?? failure) as Task;
          expect(await store.tasks.get(task.id)).toEqual(winner);
          expect(await settlementsOf(store, accountId, task.id)).toEqual(winner.state === "success" ? ["capture 0", "hold -10"] : ["hold -10", "release 10"]);
          expect((await store.outbox.list({ taskId: task.id, limit: 10 })).map((delivery) => delivery.id)).toEqual([winner.state === "success" ? `msg_s${index}` : `msg_f${index}`]);
          if (winner.state === "fail") released += 10;
        }
        expect(await balance(store, accountId)).toBe(released);
        expect(await store.accounts.ledgerSum(accountId)).toBe(released);
        expect(await store.tasks.listActive()).toEqual([]);
      });

      it("lets one of many racing starts through", async () => {
        const other = await store.another();
        const accountId = await account(store);
        const task = storedTask(accountId, NOW);
        await store.tasks.create(task, OPEN);
        const starts = await Promise.all(
          Array.from({ length: 10 }, (_, index) => (index % 2 === 0 ? store : other).tasks.transition(task.id, ["queuing"], { state: "generating", updateTime: NOW + 1, countAttempt: true })),
        );
        expect(starts.filter((start) => start !== null)).toHaveLength(1);
        expect(await store.tasks.get(task.id)).toMatchObject({ attempts: 1, upstreamAttempts: 1 });
      });
    });

    describe("countUpstreamAttempt", () => {
      it("adds one to an active task's upstream attempts, and nothing to a finished task's", async () => {
        const accountId = await account(store);
        const task = storedTask(accountId, NOW);
        await store.tasks.create(task, OPEN);
        await store.tasks.countUpstreamAttempt(task.id);
        await store.tasks.countUpstreamAttempt(task.id);
        expect(await store.tasks.get(task.id)).toMatchObject({ attempts: 0, upstreamAttempts: 2 });
        await store.tasks.transition(task.id, ["queuing"], { state: "fail", updateTime: NOW + 1, failCode: "INTERNAL", failMsg: "x" });
        await store.tasks.countUpstreamAttempt(task.id);
        expect(await store.tasks.get(task.id)).toMatchObject({ upstreamAttempts: 2 });
      });
    });

    describe("idempotency keys", () => {
      const claimOf = (accountId: string, changes: Partial<{ key: string; requestHash: string; now: number; expiresAt: number; staleBefore: number }> = {}) => ({
        accountId,
        key: "key-1",
        requestHash: "hash-a",
        now: NOW,
        expiresAt: NOW + 86_400_000,
        staleBefore: NOW - 60_000,
        ...changes,
      });

      it("answer claimed, then in-flight for the same request, mismatch for another, replay once linked", async () => {
        const accountId = await account(store);
        expect(await store.tasks.claimIdempotencyKey(claimOf(accountId))).toEqual({ kind: "claimed" });
        expect(await store.tasks.claimIdempotencyKey(claimOf(accountId, { now: NOW + 1 }))).toEqual({ kind: "in-flight" });
        expect(await store.tasks.claimIdempotencyKey(claimOf(accountId, { requestHash: "hash-b" }))).toEqual({ kind: "mismatch" });
        const task = storedTask(accountId, NOW);
        await store.tasks.create(task, { ...OPEN, idempotencyKey: "key-1" });
        expect(await store.tasks.claimIdempotencyKey(claimOf(accountId, { now: NOW + 2 }))).toEqual({ kind: "replay", taskId: task.id });
        expect(await store.tasks.claimIdempotencyKey(claimOf(accountId, { requestHash: "hash-b" }))).toEqual({ kind: "mismatch" });
        // Keys are per account.
        expect(await store.tasks.claimIdempotencyKey(claimOf(await account(store)))).toEqual({ kind: "claimed" });
      });

      it("free a released claim, but never a key linked to its task", async () => {
        const accountId = await account(store);
        await store.tasks.claimIdempotencyKey(claimOf(accountId));
        await store.tasks.releaseIdempotencyKey(accountId, "key-1");
        expect(await store.tasks.claimIdempotencyKey(claimOf(accountId, { requestHash: "hash-b" }))).toEqual({ kind: "claimed" });
        const task = storedTask(accountId, NOW);
        await store.tasks.create(task, { ...OPEN, idempotencyKey: "key-1" });
        await store.tasks.releaseIdempotencyKey(accountId, "key-1");
        expect(await store.tasks.claimIdempotencyKey(claimOf(accountId, { requestHash: "hash-b" }))).toEqual({ kind: "replay", taskId: task.id });
      });

      it("let a stale claim without task, or an expired key, be claimed again", async () => {
        const accountId = await account(store);
        await store.tasks.claimIdempotencyKey(claimOf(accountId));
        const later = NOW + 120_000;
        expect(await store.tasks.claimIdempotencyKey(claimOf(accountId, { requestHash: "hash-b", now: later, staleBefore: later - 60_000 }))).toEqual({ kind: "claimed" });
        expect(await store.tasks.claimIdempotencyKey(claimOf(accountId, { requestHash: "hash-b", now: later + 1, staleBefore: later - 60_000 }))).toEqual({ kind: "in-flight" });

        const task = storedTask(accountId, NOW);
        await store.tasks.claimIdempotencyKey(claimOf(accountId, { key: "key-2", expiresAt: NOW + 1_000 }));
        await store.tasks.create(task, { ...OPEN, idempotencyKey: "key-2" });
        expect(await store.tasks.claimIdempotencyKey(claimOf(accountId, { key: "key-2", now: NOW + 999 }))).toEqual({ kind: "replay", taskId: task.id });
        expect(await store.tasks.claimIdempotencyKey(claimOf(accountId, { key: "key-2", now: NOW + 1_000 }))).toEqual({ kind: "claimed" });
      });

      it("are claimed by exactly one of many requests racing from two processes", async () => {
        const other = await store.another();
        const accountId = await account(store);
        const claims = await Promise.all(
          Array.from({ length: 20 }, (_, index) => (index % 2 === 0 ? store : other).tasks.claimIdempotencyKey(claimOf(accountId))),
        );
        expect(claims.filter((claim) => claim.kind === "claimed")).toHaveLength(1);
        expect(claims.filter((claim) => claim.kind === "in-flight")).toHaveLength(19);
      });

      it("expire: the expired ones are deleted and counted, the rest kept", async () => {
        const accountId = await account(store);
        for (let index = 0; index < 30; index += 1) {
          await store.tasks.claimIdempotencyKey(claimOf(accountId, { key: `old-${index}`, expiresAt: NOW + index }));
        }
        await store.tasks.claimIdempotencyKey(claimOf(accountId, { key: "live", expiresAt: NOW + 1_000 }));
        expect(await store.tasks.deleteExpiredIdempotencyKeys(NOW + 30)).toBe(30);
        expect(await store.tasks.deleteExpiredIdempotencyKeys(NOW + 30)).toBe(0);
        expect(await store.tasks.claimIdempotencyKey(claimOf(accountId, { key: "live", now: NOW + 30 }))).toEqual({ kind: "in-flight" });
        expect(await store.tasks.claimIdempotencyKey(claimOf(accountId, { key: "old-29", now: NOW + 30 }))).toEqual({ kind: "claimed" });
      });
    });
  });
}
