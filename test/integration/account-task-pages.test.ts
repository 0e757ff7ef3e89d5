import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresStore, type PostgresStore } from "../../src/db/postgres/postgres-store.ts";
import { openSqliteStore, type SqliteStore } from "../../src/db/sqlite-store.ts";
import type { KyselyTaskReports } from "../../src/db/task-reports.ts";
import { NO_OVERRIDES, type AccountRepository } from "../../src/domain/accounts/account.ts";
import type { AccountTaskQuery } from "../../src/domain/tasks/reports.ts";
import type { Task, TaskState } from "../../src/domain/tasks/task.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres.ts";
import { insertTasks, storedTask } from "../helpers/tasks.ts";
import { temporaryDirectory } from "../helpers/test-server.ts";

/** Tasks of the account listed; another account's are interleaved with them. */
const TASKS = 100_000;
const PAGE = 100;
const START = Date.UTC(2027, 0, 1);
const COMMON_MODEL = "nano-banana-text-to-image";
const RARE_MODEL = "nano-banana-2";

/** What each page's statement is expected to read by: the index that gives it in id order. */
const SHAPES: Array<{ name: string; query: Omit<AccountTaskQuery, "accountId" | "limit">; index: string }> = [
  { name: "no filter", query: {}, index: "tasks_account_id" },
  { name: "a later page", query: { beforeId: "task_01kq0000000000000000000000" }, index: "tasks_account_id" },
  { name: "a state no task is in", query: { state: "waiting" }, index: "tasks_account_state_id" },
  { name: "a rare state", query: { state: "fail" }, index: "tasks_account_state_id" },
  { name: "a model no task has", query: { model: "google/nano-banana" }, index: "tasks_account_model_id" },
  { name: "a rare model", query: { model: RARE_MODEL }, index: "tasks_account_model_id" },
  { name: "the common model in a state no task is in", query: { model: COMMON_MODEL, state: "waiting" }, index: "tasks_account_state_id" },
  { name: "a rare model's successes", query: { model: RARE_MODEL, state: "success" }, index: "tasks_account_model_id" },
  { name: "the common model's failures", query: { model: COMMON_MODEL, state: "fail" }, index: "tasks_account_state_id" },
];

/**
 * The account's tasks, one every second: 96% succeeded, 3% failed, 1% queuing, none waiting;
 * 90% of the common model, 0.5% of the rare one. Every twentieth task is another account's.
 */
function seedTasks(): { mine: Task[]; all: Task[] } {
  const all: Task[] = [];
  const mine: Task[] = [];
  for (let index = 0; all.length < TASKS * 1.05; index += 1) {
    const at = START + index * 1_000;
    const accountId = index % 20 === 19 ? "acct_other" : "acct_mine";
    const state: TaskState = index % 100 === 7 ? "queuing" : index % 100 < 4 ? "fail" : "success";
    const model = index % 200 === 3 ? RARE_MODEL : index % 10 === 5 ? "nano-banana-pro" : COMMON_MODEL;
    const task = storedTask(accountId, at, { state, model, creditsHeld: 4, ...(state === "queuing" ? {} : { completeTime: at + 500 }) });
    all.push(task);
    if (accountId === "acct_mine") mine.push(task);
  }
  return { mine, all };
}

/** Every page of the query from the first to the last, and the ids they held in order. */
async function pageThrough(reports: KyselyTaskReports, query: Omit<AccountTaskQuery, "accountId" | "limit" | "beforeId">): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let pages = 0;
  for (;;) {
    const beforeId = ids.at(-1);
    const page = await reports.listAccountTasks({ accountId: "acct_mine", limit: PAGE, ...query, ...(beforeId === undefined ? {} : { beforeId }) });
    pages += 1;
    for (const task of page) expect(task.accountId).toBe("acct_mine");
    ids.push(...page.map((task) => task.id));
    if (page.length < PAGE) return { ids, pages };
  }
}

interface OpenedDialect {
  reports: KyselyTaskReports;
  /** Stores the accounts of the tasks, then the tasks. */
  seed(tasks: Task[]): Promise<void>;
  /** The database's plan of a statement, as text. */
  plan(sql: string, parameters: readonly unknown[]): Promise<string>;
  close(): Promise<void>;
}

interface Dialect {
  name: string;
  open(): Promise<OpenedDialect>;
}

async function createAccounts(accounts: AccountRepository): Promise<void> {
  for (const id of ["acct_mine", "acct_other"]) await accounts.createAccount({ id, name: id, createdAt: START, credits: 0, limits: NO_OVERRIDES });
}

const sqlite: Dialect = {
  name: "SQLite",
  async open() {
    const store: SqliteStore = await openSqliteStore(await temporaryDirectory("imagegate-pages-"));
    return {
      reports: store.reports,
      seed: async (tasks) => {
        await createAccounts(store.accounts);
        await insertTasks(store.handle.db, tasks);
      },
      plan: async (sql, parameters) =>
        (store.handle.raw.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...parameters) as Array<{ detail: string }>).map((row) => row.detail).join("\n"),
      close: () => store.close(),
    };
  },
};

let database: TestDatabase | undefined;
const postgres: Dialect = {
  name: "PostgreSQL",
  async open() {
    database = await createTestDatabase();
    const store: PostgresStore = await openPostgresStore(database.url, { poolSize: 2, applicationName: "imagegate-test" });
    return {
      reports: store.reports,
      seed: async (tasks) => {
        await createAccounts(store.accounts);
        await insertTasks(store.database.kysely, tasks);
        // What autovacuum does after a bulk load: the planner's statistics of the new rows.
        await store.database.query("ANALYZE tasks");
      },
      plan: async (sql, parameters) => {
        const { rows } = await store.database.query<{ "QUERY PLAN": string }>(`EXPLAIN ${sql}`, parameters);
        return rows.map((row) => row["QUERY PLAN"]).join("\n");
      },
      close: async () => {
        await store.close();
        await database?.drop();
      },
    };
  },
};

describe.each([sqlite, postgres])("an account's task list over $name with 100,000 tasks", (dialect) => {
  let opened: OpenedDialect | undefined;
  let mine: Task[];
  const reports = (): KyselyTaskReports => {
    if (opened === undefined) throw new Error("not opened");
    return opened.reports;
  };
  beforeAll(async () => {
    opened = await dialect.open();
    const seeded = seedTasks();
    mine = seeded.mine;
    await opened.seed(seeded.all);
  }, 120_000);
  afterAll(async () => {
    await opened?.close();
  });

  it.each(SHAPES)("reads $name through an index in id order, sorting nothing", async ({ query, index }) => {
    const compiled = reports().accountTasksQuery({ accountId: "acct_mine", limit: PAGE + 1, ...query }).compile();
    const plan = (await opened?.plan(compiled.sql, compiled.parameters)) ?? "";
    expect(plan).not.toMatch(/TEMP B-TREE|Sort|Seq Scan|^SCAN tasks$/m);
    if (dialect === sqlite) expect(plan).toContain(`USING INDEX ${index} `);
    else expect(plan).toMatch(/Index Scan Backward using (tasks_pkey|tasks_account_\w+)/);
  });

  it("pages through every task of the account once, newest first", async () => {
    const { ids, pages } = await pageThrough(reports(), {});
    expect(ids).toHaveLength(mine.length);
    expect(ids).toEqual(mine.map((task) => task.id).reverse());
    expect(pages).toBe(Math.floor(mine.length / PAGE) + 1);
  }, 60_000);

  it("pages through a filtered list to its end: by state, by model and by both", async () => {
    const expected = (keep: (task: Task) => boolean) => mine.filter(keep).map((task) => task.id).reverse();
    expect((await pageThrough(reports(), { state: "fail" })).ids).toEqual(expected((task) => task.state === "fail"));
    expect((await pageThrough(reports(), { model: RARE_MODEL })).ids).toEqual(expected((task) => task.model === RARE_MODEL));
    expect((await pageThrough(reports(), { model: COMMON_MODEL, state: "queuing" })).ids).toEqual(
      expected((task) => task.model === COMMON_MODEL && task.state === "queuing"),
    );
    expect((await pageThrough(reports(), { state: "waiting" })).ids).toEqual([]);
  }, 60_000);
});
