import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NO_OVERRIDES } from "../../src/domain/accounts/account.ts";
import type { AccountTaskQuery } from "../../src/domain/tasks/reports.ts";
import type { Task } from "../../src/domain/tasks/task.ts";
import type { OpenStorage, StorageFixture } from "../helpers/stores.ts";
import { storedTask } from "../helpers/tasks.ts";

/** 2027-01-15T00:00:00Z, the first UTC day of the reports below. */
const DAY_ONE = Date.UTC(2027, 0, 15);
const DAY = 86_400_000;

/** The whole behaviour of TaskReports, run against the adapter `open` builds. */
export function taskReportsContract(name: string, open: OpenStorage): void {
  describe(`${name}: TaskReports`, () => {
    let store: StorageFixture;
    /** alpha: two tasks on day one (one succeeded, one failed), one on day two; bravo: one active on day one. */
    let tasks: { alphaSuccess: Task; alphaFail: Task; alphaLater: Task; bravo: Task };

    beforeEach(async () => {
      store = await open();
      for (const [id, name] of [["acct_a", "alpha"], ["acct_b", "bravo"]] as const) {
        await store.accounts.createAccount({ id, name, createdAt: DAY_ONE, credits: 0, limits: NO_OVERRIDES });
        await store.accounts.adjustCredits({ accountId: id, amount: 1_000, kind: "grant", reason: "test", actor: "test", now: DAY_ONE });
      }
      tasks = {
        alphaSuccess: storedTask("acct_a", DAY_ONE + 1_000),
        alphaFail: storedTask("acct_a", DAY_ONE + DAY - 1, { model: "other-model" }),
        alphaLater: storedTask("acct_a", DAY_ONE + DAY),
        bravo: storedTask("acct_b", DAY_ONE + 5_000),
      };
      for (const task of Object.values(tasks)) await store.tasks.create(task, { activeLimit: 100, price: 10 });
      const end = { updateTime: DAY_ONE + 2 * DAY, completeTime: DAY_ONE + 2 * DAY } as const;
      await store.tasks.transition(tasks.alphaSuccess.id, ["queuing"], { state: "success", resultJson: "{}", credits: "capture", ...end });
      await store.tasks.transition(tasks.alphaFail.id, ["queuing"], { state: "fail", failCode: "INTERNAL", failMsg: "x", credits: "release", ...end });
    });
    afterEach(async () => {
      await store.close();
    });

    it("list tasks newest first, by account, state and creation time (since inclusive, until exclusive), at most `limit`", async () => {
      const ids = async (filter: Parameters<StorageFixture["reports"]["listTasks"]>[0]) => (await store.reports.listTasks(filter)).map((task) => task.id);
      const { alphaSuccess, alphaFail, alphaLater, bravo } = tasks;
      expect(await ids({ limit: 10 })).toEqual([alphaLater.id, alphaFail.id, bravo.id, alphaSuccess.id]);
      expect(await ids({ limit: 2 })).toEqual([alphaLater.id, alphaFail.id]);
      expect(await ids({ accountId: "acct_a", limit: 10 })).toEqual([alphaLater.id, alphaFail.id, alphaSuccess.id]);
      expect(await ids({ state: "queuing", limit: 10 })).toEqual([alphaLater.id, bravo.id]);
      expect(await ids({ since: bravo.createTime, until: alphaLater.createTime, limit: 10 })).toEqual([alphaFail.id, bravo.id]);
      expect(await store.reports.listTasks({ state: "success", limit: 10 })).toEqual([
        expect.objectContaining({ id: alphaSuccess.id, state: "success", creditsHeld: 10, completeTime: DAY_ONE + 2 * DAY }),
      ]);
    });

    it("list an account's own tasks newest first, by state, model or both, a page at a time, never another account's", async () => {
      const { alphaSuccess, alphaFail, alphaLater, bravo } = tasks;
      const ids = async (query: Omit<AccountTaskQuery, "accountId" | "limit">, accountId = "acct_a", limit = 10) =>
        (await store.reports.listAccountTasks({ accountId, limit, ...query })).map((task) => task.id);
      expect(await ids({})).toEqual([alphaLater.id, alphaFail.id, alphaSuccess.id]);
      expect(await ids({}, "acct_b")).toEqual([bravo.id]);
      expect(await ids({}, "acct_none")).toEqual([]);
      expect(await ids({ state: "queuing" })).toEqual([alphaLater.id]);
      expect(await ids({ state: "success" })).toEqual([alphaSuccess.id]);
      expect(await ids({ state: "waiting" })).toEqual([]);
      expect(await ids({ model: "other-model" })).toEqual([alphaFail.id]);
      expect(await ids({ model: alphaSuccess.model })).toEqual([alphaLater.id, alphaSuccess.id]);
      expect(await ids({ model: alphaSuccess.model, state: "success" })).toEqual([alphaSuccess.id]);
      expect(await ids({ model: alphaSuccess.model, state: "queuing" })).toEqual([alphaLater.id]);
      expect(await ids({ model: "other-model", state: "fail" })).toEqual([alphaFail.id]);
      expect(await ids({ model: "other-model", state: "success" })).toEqual([]);
      // A page ends before the task it is given; pages taken one after another list every task once.
      expect(await ids({}, "acct_a", 2)).toEqual([alphaLater.id, alphaFail.id]);
      expect(await ids({ beforeId: alphaFail.id }, "acct_a", 2)).toEqual([alphaSuccess.id]);
      expect(await ids({ beforeId: alphaSuccess.id })).toEqual([]);
      expect(await ids({ beforeId: alphaLater.id, model: alphaSuccess.model })).toEqual([alphaSuccess.id]);
      // Another account's task as the page's end bounds the page by time alone, and shows nothing of that account.
      expect(await ids({ beforeId: bravo.id })).toEqual([alphaSuccess.id]);
      expect(await store.reports.listAccountTasks({ accountId: "acct_a", state: "fail", limit: 1 })).toEqual([
        expect.objectContaining({ id: alphaFail.id, accountId: "acct_a", state: "fail", failCode: "INTERNAL", creditsHeld: 10 }),
      ]);
    });

    it("sum usage per UTC day of creation and account: tasks per state, credits spent, per model", async () => {
      const noTasks = { waiting: 0, queuing: 0, generating: 0, success: 0, fail: 0 };
      const model = tasks.alphaSuccess.model;
      expect(await store.reports.usage({})).toEqual([
        {
          day: "2027-01-15",
          accountId: "acct_a",
          accountName: "alpha",
          tasks: { ...noTasks, success: 1, fail: 1 },
          creditsSpent: 10,
          models: { [model]: { tasks: 1, creditsSpent: 10 }, "other-model": { tasks: 1, creditsSpent: 0 } },
        },
        { day: "2027-01-15", accountId: "acct_b", accountName: "bravo", tasks: { ...noTasks, queuing: 1 }, creditsSpent: 0, models: { [model]: { tasks: 1, creditsSpent: 0 } } },
        { day: "2027-01-16", accountId: "acct_a", accountName: "alpha", tasks: { ...noTasks, queuing: 1 }, creditsSpent: 0, models: { [model]: { tasks: 1, creditsSpent: 0 } } },
      ]);
      expect((await store.reports.usage({ accountId: "acct_b" })).map((row) => row.accountName)).toEqual(["bravo"]);
      expect((await store.reports.usage({ since: DAY_ONE + DAY })).map((row) => row.day)).toEqual(["2027-01-16"]);
      expect((await store.reports.usage({ until: DAY_ONE + 2_000 })).map((row) => row.tasks.success)).toEqual([1]);
    });
  });
}
