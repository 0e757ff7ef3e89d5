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

describe("PostgresTaskRepository", () => {
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
});
