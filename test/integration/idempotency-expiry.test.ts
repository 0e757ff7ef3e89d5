import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openSqliteStore, type SqliteStore } from "../../src/db/sqlite-store.ts";
import { EXPIRED_KEYS_PER_BATCH } from "../../src/db/sqlite-task-repository.ts";
import { temporaryDirectory } from "../helpers/test-server.ts";

const NOW = 1_800_000_000_000;

describe("expired idempotency keys", () => {
  let store: SqliteStore;
  beforeEach(async () => {
    store = await openSqliteStore(await temporaryDirectory());
    const insert = store.handle.raw.prepare(
      "INSERT INTO idempotency_keys (account_id, key, request_hash, task_id, created_at, expires_at) VALUES ('acct_1', ?, 'hash', NULL, 0, ?)",
    );
    store.handle.raw.transaction(() => {
      for (let index = 0; index < 2.5 * EXPIRED_KEYS_PER_BATCH; index += 1) insert.run(`old ${index}`, NOW - 1 - index);
      for (let index = 0; index < 10; index += 1) insert.run(`live ${index}`, NOW + 1 + index);
    })();
  });
  afterEach(async () => {
    await store.close();
  });

  it("are removed in batches, one commit each, and the keys still in force are kept", async () => {
    const commits = store.counters().commits;
    let turnsBetween = 0;
    const counting = setInterval(() => (turnsBetween += 1), 0);
    const removed = await store.tasks.deleteExpiredIdempotencyKeys(NOW);
    clearInterval(counting);
    expect(removed).toBe(2.5 * EXPIRED_KEYS_PER_BATCH);
    expect(store.counters().commits - commits).toBe(3);
    const left = store.handle.raw.prepare("SELECT key FROM idempotency_keys ORDER BY expires_at").pluck().all();
    expect(left).toEqual(Array.from({ length: 10 }, (_, index) => `live ${index}`));
    // The event loop ran other work between the batches.
    expect(turnsBetween).toBeGreaterThan(0);
    expect(await store.tasks.deleteExpiredIdempotencyKeys(NOW)).toBe(0);
  });
});
