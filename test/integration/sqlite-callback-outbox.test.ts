import SqliteDatabase from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SqliteCallbackOutbox } from "../../src/db/sqlite-callback-outbox.ts";
import type { SqliteGroupCommit } from "../../src/db/sqlite-group-commit.ts";
import type { SqliteHandle } from "../../src/db/sqlite.ts";
import { openHeldDatabase, type HeldDatabase, type HeldSync } from "../helpers/held-sync.ts";

const NOW = 1_800_000_000_000;

let database: HeldDatabase;
let handle: SqliteHandle;
let held: HeldSync;
let groupCommit: SqliteGroupCommit;
let outbox: SqliteCallbackOutbox;

beforeEach(async () => {
  database = await openHeldDatabase("imagegate-outbox-");
  ({ handle, held, groupCommit } = database);
  outbox = new SqliteCallbackOutbox(handle.raw, groupCommit);
  const insert = handle.raw.prepare(
    `INSERT INTO callback_deliveries (id, task_id, account_id, url, payload, state, attempts, next_attempt_at, created_at, updated_at)
     VALUES (?, ?, 'acct_1', 'https://example.com/hook', '{}', 'pending', 0, ?, ?, ?)`,
  );
  for (const index of [1, 2, 3]) insert.run(`msg_${index}`, `task_${index}`, NOW, NOW, NOW);
});

afterEach(async () => {
  await database.close();
});

/** What another connection (another process) sees: what is committed. */
function committed<T>(sql: string): T[] {
  const reader = new SqliteDatabase(handle.file, { readonly: true });
  try {
    return reader.prepare(sql).all() as T[];
  } finally {
    reader.close();
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

describe("SqliteCallbackOutbox", () => {
  it("answers a claim once its leases are committed, without waiting for the disk", async () => {
    const claimed = await outbox.claimDue(NOW, NOW + 60_000, 10, "run_a");
    expect(claimed.map((delivery) => delivery.id).sort()).toEqual(["msg_1", "msg_2", "msg_3"]);
    expect(held.calls).toBe(0);
    expect(committed<{ next_attempt_at: number }>("SELECT next_attempt_at FROM callback_deliveries")).toEqual([
      { next_attempt_at: NOW + 60_000 },
      { next_attempt_at: NOW + 60_000 },
      { next_attempt_at: NOW + 60_000 },
    ]);
    expect(await outbox.claimDue(NOW, NOW + 60_000, 10, "run_a")).toEqual([]);
  });

  it("releases at start the leases of an earlier run, due now, and keeps its own run's leases and scheduled retries", async () => {
    expect(await outbox.claimDue(NOW, NOW + 60_000, 2, "run_earlier")).toHaveLength(2);
    // msg_1's attempt was recorded before the crash: its retry keeps its schedule.
    const recorded = outbox.recordAttempt(
      { deliveryId: "msg_1", at: NOW, status: 500, durationMs: 3, error: "receiver answered 500" },
      { state: "pending", nextAttemptAt: NOW + 5_000, deliveredAt: null },
    );
    await turn();
    held.finish();
    await recorded;
    expect(await outbox.claimDue(NOW, NOW + 60_000, 10, "run_current")).toHaveLength(1);
    const restartedAt = NOW + 1_000;

    // Answered once committed: the release needs no flush of its own.
    expect(await outbox.releaseOtherLeasesAsSoleProcess("run_current", restartedAt)).toBe(1);
    expect(held.calls).toBe(1);
    expect(
      committed<{ id: string; next_attempt_at: number; lease_owner: string | null }>(
        "SELECT id, next_attempt_at, lease_owner FROM callback_deliveries ORDER BY id",
      ),
    ).toEqual([
      { id: "msg_1", next_attempt_at: NOW + 5_000, lease_owner: null },
      { id: "msg_2", next_attempt_at: restartedAt, lease_owner: null },
      { id: "msg_3", next_attempt_at: NOW + 60_000, lease_owner: "run_current" },
    ]);
    expect((await outbox.claimDue(restartedAt, restartedAt + 60_000, 10, "run_current")).map((delivery) => delivery.id)).toEqual([
      "msg_2",
    ]);
    expect(await outbox.releaseOtherLeasesAsSoleProcess("run_current", restartedAt)).toBe(0);
  });

  it("records the attempts of callbacks answered together in one commit, each answered once the log is flushed", async () => {
    const commitsBefore = groupCommit.commits;
    const answered: string[] = [];
    const recorded = ["msg_1", "msg_2", "msg_3"].map((deliveryId) =>
      outbox
        .recordAttempt(
          { deliveryId, at: NOW, status: 200, durationMs: 12, error: null },
          { state: "delivered", nextAttemptAt: NOW, deliveredAt: NOW },
        )
        .then(() => answered.push(deliveryId)),
    );
    await turn();
    expect(groupCommit.commits).toBe(commitsBefore + 1);
    expect(held.calls).toBe(1);
    expect(answered).toEqual([]);
    expect(committed<{ state: string }>("SELECT state FROM callback_deliveries").map((row) => row.state)).toEqual([
      "delivered",
      "delivered",
      "delivered",
    ]);
    held.finish();
    await Promise.all(recorded);
    expect(answered.sort()).toEqual(["msg_1", "msg_2", "msg_3"]);
    expect(await outbox.attempts("msg_2")).toEqual([{ deliveryId: "msg_2", at: NOW, status: 200, durationMs: 12, error: null }]);
  });

  it("answers a redelivery once it is on disk, and false for an unknown delivery", async () => {
    handle.raw.prepare("UPDATE callback_deliveries SET state = 'failed' WHERE id = 'msg_1'").run();
    let answered = false;
    const queued = outbox.redeliver("msg_1", NOW + 5).then((found) => {
      answered = true;
      return found;
    });
    await turn();
    expect(answered).toBe(false);
    held.finish();
    expect(await queued).toBe(true);
    expect(await outbox.get("msg_1")).toMatchObject({ state: "pending", nextAttemptAt: NOW + 5 });
    const unknown = outbox.redeliver("msg_unknown", NOW);
    await turn();
    held.finish();
    expect(await unknown).toBe(false);
  });
});
