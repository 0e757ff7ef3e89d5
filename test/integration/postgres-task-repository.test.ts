import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DatabaseUnavailableError } from "../../src/db/postgres/connection.ts";
import { openPostgresStore, type PostgresStore } from "../../src/db/postgres/postgres-store.ts";
import { EXPIRED_KEYS_PER_BATCH } from "../../src/db/postgres/postgres-task-repository.ts";
import { NO_OVERRIDES } from "../../src/domain/accounts/account.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres.ts";
import { storedTask } from "../helpers/tasks.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";

const NOW = 1_800_000_000_000;

let database: TestDatabase;
let proxy: TcpProxy;
let store: PostgresStore;
let other: PostgresStore;

beforeEach(async () => {
  database = await createTestDatabase();
  const proxied = await TcpProxy.before(database.url, 5432);
  proxy = proxied.proxy;
  store = await openPostgresStore(proxied.url, { poolSize: 3 });
  other = await openPostgresStore(database.url, { poolSize: 3 });
  await store.accounts.createAccount({ id: "acct_1", name: "one", createdAt: NOW, credits: 0, limits: NO_OVERRIDES });
  await store.accounts.adjustCredits({ accountId: "acct_1", amount: 100, kind: "grant", reason: "test", actor: "test", now: NOW });
});

afterEach(async () => {
  await store.close();
  await other.close();
  await proxy.close();
  await database.drop();
});

interface HeldRow {
  /** Resolves with the server processes of the create batches once `count` of them wait for the row. */
  waiting(count: number): Promise<number[]>;
  /** Lets the row go. */
  release(): Promise<void>;
  /** The session holding the row. */
  holder: pg.Client;
}

/** Runs `work` while another session holds the account's row, so that create batches wait inside the server. */
async function withRowHeld<T>(accountId: string, work: (row: HeldRow) => Promise<T>): Promise<T> {
  const holder = new pg.Client({ connectionString: database.url });
  await holder.connect();
  try {
    await holder.query("BEGIN");
    await holder.query("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", [accountId]);
    return await work({
      holder,
      waiting: async (count) => {
        for (;;) {
          // Inside its transaction, the session would otherwise read the activity it read first.
          await holder.query("SELECT pg_stat_clear_snapshot()");
          const { rows } = await holder.query<{ pid: number }>(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%create_tasks%' ORDER BY pid",
          );
          if (rows.length >= count) return rows.map((row) => row.pid);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      },
      release: async () => {
        await holder.query("ROLLBACK");
      },
    });
  } finally {
    await holder.end();
  }
}

describe("PostgresTaskRepository", () => {
  it("steps tasks in batches of two processes that share tasks in opposite orders without a deadlock", async () => {
    const tasks = Array.from({ length: 60 }, (_, index) => storedTask("acct_1", NOW + index, { state: "waiting" }));
    for (const task of tasks) await store.tasks.create(task, { activeLimit: 1_000, price: 0 });
    // One process queues the tasks while the other starts them, each batch in the other's order:
    // without a common order of locks, PostgreSQL would end some batches as deadlocks.
    const outcomes = await Promise.all([
      ...tasks.map((task) => store.tasks.transition(task.id, ["waiting"], { state: "queuing", updateTime: NOW + 1_000 }, "committed")),
      ...[...tasks]
        .reverse()
        .map((task) => other.tasks.transition(task.id, ["waiting", "queuing"], { state: "generating", updateTime: NOW + 2_000, countAttempt: true })),
    ]);
    expect(outcomes.slice(60).every((task) => task?.state === "generating")).toBe(true);
    const { rows } = await other.database.query<{ state: string; attempts: number }>("SELECT state, attempts FROM tasks");
    expect(rows.every((row) => row.state === "generating" && row.attempts === 1)).toBe(true);
  });

  it("removes expired idempotency keys in batches, sweeps of two processes sharing the work", async () => {
    await store.database.query(
      `INSERT INTO idempotency_keys (account_id, key, request_hash, task_id, created_at, expires_at)
       SELECT 'acct_1', 'old ' || n, 'hash', NULL, 0, $1::bigint - n FROM generate_series(1, $2) AS n`,
      [NOW, 2.5 * EXPIRED_KEYS_PER_BATCH],
    );
    await store.database.query(
      `INSERT INTO idempotency_keys (account_id, key, request_hash, task_id, created_at, expires_at)
       SELECT 'acct_1', 'live ' || n, 'hash', NULL, 0, $1::bigint + n FROM generate_series(1, 10) AS n`,
      [NOW],
    );
    const removed = await Promise.all([store.tasks.deleteExpiredIdempotencyKeys(NOW), other.tasks.deleteExpiredIdempotencyKeys(NOW)]);
    expect(removed[0] + removed[1]).toBe(2.5 * EXPIRED_KEYS_PER_BATCH);
    const { rows } = await store.database.query<{ key: string }>("SELECT key FROM idempotency_keys ORDER BY expires_at");
    expect(rows.map((row) => row.key)).toEqual(Array.from({ length: 10 }, (_, index) => `live ${index + 1}`));
  });

  it("fails a settlement cut off from the database with DatabaseUnavailableError, leaving nothing half-written", async () => {
    const task = storedTask("acct_1", NOW, { callbackUrl: "https://example.com/hook" });
    expect(await store.tasks.create(task, { activeLimit: 5, price: 30 })).toBe("created");
    proxy.cut();
    const settling = store.tasks.transition(task.id, ["queuing"], { state: "fail", updateTime: NOW + 1, completeTime: NOW + 1, failCode: "INTERNAL", failMsg: "x", credits: "release", callbackId: "msg_1" });
    await expect(settling).rejects.toBeInstanceOf(DatabaseUnavailableError);
    await expect(store.tasks.create(storedTask("acct_1", NOW), { activeLimit: 5, price: 30 })).rejects.toBeInstanceOf(DatabaseUnavailableError);
    // Another process still reaches the database, and finds the task as it was.
    expect(await other.tasks.get(task.id)).toEqual({ ...task, creditsHeld: 30 });
    expect((await other.accounts.findAccountById("acct_1"))?.credits).toBe(70);

    proxy.restore();
    expect(await store.tasks.transition(task.id, ["queuing"], { state: "fail", updateTime: NOW + 2, completeTime: NOW + 2, failCode: "INTERNAL", failMsg: "x", credits: "release", callbackId: "msg_2" })).toMatchObject({ state: "fail" });
    expect(await store.accounts.ledgerSum("acct_1")).toBe(100);
    expect((await store.outbox.list({ taskId: task.id, limit: 10 })).map((delivery) => delivery.id)).toEqual(["msg_2"]);
  });

  describe("creates made at once", () => {
    it("are stored in one transaction, so with one commit", async () => {
      const outcomes = await Promise.all(Array.from({ length: 20 }, (_, index) => store.tasks.create(storedTask("acct_1", NOW + index), { activeLimit: 100, price: 1 })));
      expect(outcomes).toEqual(Array.from({ length: 20 }, () => "created"));
      const { rows } = await other.database.query<{ transactions: number }>(
        "SELECT count(DISTINCT xmin::text)::integer AS transactions FROM tasks WHERE account_id = 'acct_1'",
      );
      expect(rows[0]?.transactions).toBe(1);
      expect(await other.accounts.ledgerSum("acct_1")).toBe(80);
    });

    it("leave out a create whose text JSON cannot carry to PostgreSQL: it is made alone, as before, and fails no batch", async () => {
      const transactions = async () =>
        (await other.database.query<{ count: number }>("SELECT count(DISTINCT xmin::text)::integer AS count FROM tasks")).rows[0]?.count;
      const createThree = (callbackUrl: string, at: number) =>
        Promise.allSettled([0, 1, 2].map((index) => store.tasks.create(storedTask("acct_1", at + index, index === 1 ? { callbackUrl } : {}), { activeLimit: 100, price: 0 })));
      // A lone surrogate, which a text parameter stores as U+FFFD.
      expect((await createThree("https://example.com/\ud800", NOW)).map((outcome) => outcome.status)).toEqual(["fulfilled", "fulfilled", "fulfilled"]);
      expect(await transactions()).toBe(2);
      // NUL, which PostgreSQL stores in no text.
      expect((await createThree("https://example.com/\u0000", NOW + 10)).map((outcome) => outcome.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      expect(await transactions()).toBe(3);
      expect(await other.tasks.countForAccount("acct_1")).toBe(5);
    });

    it("by two processes over the same accounts, in opposite orders, take the accounts' rows in one order: no deadlock", async () => {
      await store.accounts.createAccount({ id: "acct_2", name: "two", createdAt: NOW, credits: 0, limits: NO_OVERRIDES });
      const create = (process: PostgresStore, accountId: string, at: number) => process.tasks.create(storedTask(accountId, at), { activeLimit: 100, price: 0 });
      await withRowHeld("acct_2", async ({ waiting, release }) => {
        // The second process's batch names acct_2 first and is first in line for it; the first
        // process's batch names acct_1 first. Taken in the order named, each would hold the row the
        // other waits for once acct_2 is free.
        const second = Promise.all([create(other, "acct_2", NOW), create(other, "acct_1", NOW + 1)]);
        await waiting(1);
        const first = Promise.all([create(store, "acct_1", NOW + 2), create(store, "acct_2", NOW + 3)]);
        await waiting(2);
        await release();
        return Promise.all([first, second]);
      });
      // A deadlock would have failed one batch, whose creates would then have been made one by one.
      const { rows } = await other.database.query<{ transactions: number }>("SELECT count(DISTINCT xmin::text)::integer AS transactions FROM tasks");
      expect(rows[0]?.transactions).toBe(2);
    });

    it("whose connection is lost mid-statement all fail with DatabaseUnavailableError, and none is stored", async () => {
      await withRowHeld("acct_1", async ({ waiting, release, holder }) => {
        const creates = Promise.allSettled(
          Array.from({ length: 10 }, (_, index) => store.tasks.create(storedTask("acct_1", NOW + index), { activeLimit: 100, price: 1 })),
        );
        const [backend] = await waiting(1);
        // As a server restart would: the connection ends mid-statement.
        await holder.query("SELECT pg_terminate_backend($1)", [backend]);
        await release();
        const outcomes = await creates;
        expect(outcomes.map((outcome) => (outcome.status === "rejected" ? (outcome.reason as Error).name : outcome.value))).toEqual(
          Array.from({ length: 10 }, () => "DatabaseUnavailableError"),
        );
      });
      expect(await other.tasks.countForAccount("acct_1")).toBe(0);
      expect(await other.accounts.findAccountById("acct_1")).toMatchObject({ credits: 100 });
      expect(await other.accounts.ledgerSum("acct_1")).toBe(100);
      // The pool opens another connection: service goes on.
      expect(await store.tasks.create(storedTask("acct_1", NOW + 10), { activeLimit: 1, price: 1 })).toBe("created");
    });
  });
});
