import { copyFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { openSqliteStore } from "../../src/db/sqlite-store.ts";
import { BACKGROUND_AUTOCHECKPOINT_FRAMES, WalCheckpointer } from "../../src/db/wal-checkpoint.ts";
import { temporaryDirectory } from "../helpers/test-server.ts";

let directory: string;
let file: string;
let database: SqliteDatabase.Database;
const checkpointers: WalCheckpointer[] = [];

beforeEach(async () => {
  directory = await temporaryDirectory("imagegate-checkpoint-");
  file = path.join(directory, "test.db");
  database = new SqliteDatabase(file);
  database.pragma("journal_mode = WAL");
  // As the store sets it: only the thread checkpoints in these tests.
  database.pragma("wal_autocheckpoint = 0");
  database.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
});

afterEach(async () => {
  await Promise.all(checkpointers.splice(0).map((checkpointer) => checkpointer.close()));
  database.close();
  await rm(directory, { recursive: true, force: true });
});

interface Listeners {
  onFailure: (error: Error) => void;
  onRecovery: () => void;
}

function checkpointer(listeners: Listeners = { onFailure: () => undefined, onRecovery: () => undefined }, at = file): WalCheckpointer {
  const made = new WalCheckpointer(at, listeners, 5);
  checkpointers.push(made);
  return made;
}

const insert = (count: number): void => {
  const statement = database.prepare("INSERT INTO items (name) VALUES (?)");
  database.transaction(() => {
    for (let index = 0; index < count; index += 1) statement.run(`item ${index}`);
  })();
};

/** Rows in the database file alone, without its log: what the checkpoints have copied. */
async function rowsInDatabaseFile(): Promise<number> {
  const copy = path.join(directory, `copy-${Date.now()}-${Math.random()}.db`);
  await copyFile(file, copy);
  const reader = new SqliteDatabase(copy, { readonly: true });
  try {
    return (reader.prepare("SELECT count(*) AS count FROM items").get() as { count: number }).count;
  } catch {
    // The table itself is still only in the log.
    return 0;
  } finally {
    reader.close();
  }
}

describe("WalCheckpointer", () => {
  it("copies committed frames into the database file on its own thread", async () => {
    const background = checkpointer();
    insert(100);
    expect(await rowsInDatabaseFile()).toBe(0);
    background.committed();
    await vi.waitFor(() => expect(background.checkpoints).toBe(1), { timeout: 10_000 });
    expect(background.lastFrames).toBeGreaterThan(0);
    expect(await rowsInDatabaseFile()).toBe(100);
  });

  it("lets the log start over once it has copied every frame", async () => {
    const background = checkpointer();
    insert(2_000);
    background.committed();
    await vi.waitFor(() => expect(background.checkpoints).toBe(1), { timeout: 10_000 });
    const framesBefore = background.lastFrames;
    const logBytes = (await stat(`${file}-wal`)).size;
    insert(1);
    background.committed();
    await vi.waitFor(() => expect(background.checkpoints).toBe(2), { timeout: 10_000 });
    // The write went to the start of the log: the log counts its frames alone, and did not grow.
    expect(background.lastFrames).toBeLessThan(framesBefore);
    expect(background.lastFrames).toBeLessThanOrEqual(3);
    expect((await stat(`${file}-wal`)).size).toBe(logBytes);
  });

  it("shares one checkpoint among the commits before it, and follows a commit made during one", async () => {
    const background = checkpointer();
    insert(10);
    for (let index = 0; index < 20; index += 1) background.committed();
    await vi.waitFor(() => expect(background.checkpoints).toBe(1), { timeout: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(background.checkpoints).toBe(1);

    insert(10);
    background.committed();
    // Wait until that checkpoint is under way, then commit during it.
    await vi.waitFor(() => expect((background as unknown as { running: unknown }).running).not.toBeNull(), { timeout: 10_000, interval: 1 });
    insert(10);
    background.committed();
    await vi.waitFor(() => expect(background.checkpoints).toBe(3), { timeout: 10_000 });
    expect(await rowsInDatabaseFile()).toBe(30);
  });

  it("leaves data_version alone, so caches on the server's connection stay valid", async () => {
    const dataVersion = database.prepare("PRAGMA data_version").pluck();
    insert(10);
    const before = dataVersion.get();
    const background = checkpointer();
    background.committed();
    await vi.waitFor(() => expect(background.checkpoints).toBe(1), { timeout: 10_000 });
    expect(dataVersion.get()).toBe(before);
    // Another connection's write does move it: the check above can fail.
    const other = new SqliteDatabase(file);
    other.prepare("INSERT INTO items (name) VALUES ('other')").run();
    other.close();
    expect(dataVersion.get()).not.toBe(before);
  });

  it("reports the first of a run of failures and the recovery, and loses nothing meanwhile", async () => {
    const missing = path.join(directory, "later.db");
    const failures: Error[] = [];
    let recoveries = 0;
    const background = checkpointer(
      {
        onFailure: (error) => void failures.push(error),
        onRecovery: () => void (recoveries += 1),
      },
      missing,
    );
    background.committed();
    await vi.waitFor(() => expect(background.failures).toBe(1), { timeout: 10_000 });
    background.committed();
    await vi.waitFor(() => expect(background.failures).toBe(2), { timeout: 10_000 });
    expect(failures).toHaveLength(1);
    expect(failures[0]?.message).toMatch(/unable to open|does not exist/i);

    const later = new SqliteDatabase(missing);
    later.pragma("journal_mode = WAL");
    later.pragma("wal_autocheckpoint = 0");
    later.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
    background.committed();
    await vi.waitFor(() => expect(background.checkpoints).toBe(1), { timeout: 10_000 });
    later.close();
    expect(recoveries).toBe(1);
    expect(failures).toHaveLength(1);
  });

  it("runs no checkpoint after close", async () => {
    const background = checkpointer();
    insert(10);
    background.committed();
    await background.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(background.checkpoints).toBe(0);
    expect(await rowsInDatabaseFile()).toBe(0);
  });
});

describe("the store's background checkpoints", () => {
  it("raise the event loop's own checkpoint threshold only when asked for", async () => {
    const plain = await openSqliteStore(await temporaryDirectory("imagegate-store-"));
    const background = await openSqliteStore(await temporaryDirectory("imagegate-store-"), {
      backgroundCheckpoints: { onFailure: () => undefined, onRecovery: () => undefined },
    });
    try {
      expect(plain.handle.raw.pragma("wal_autocheckpoint", { simple: true })).toBe(1000);
      expect(background.handle.raw.pragma("wal_autocheckpoint", { simple: true })).toBe(BACKGROUND_AUTOCHECKPOINT_FRAMES);
    } finally {
      await plain.close();
      await background.close();
    }
  });

  it("follow the store's commits, and leave no log behind once the store is closed", async () => {
    const dataDir = await temporaryDirectory("imagegate-store-");
    const store = await openSqliteStore(dataDir, { backgroundCheckpoints: { onFailure: () => undefined, onRecovery: () => undefined } });
    let closed = false;
    try {
      await store.accounts.createAccount({ id: "acct_checkpoint", name: "checkpoint", createdAt: Date.now(), credits: 0, limits: { activeTasks: null, createTask: null, other: null } });
      await store.tasks.releaseIdempotencyKey("acct_checkpoint", "none");
      await vi.waitFor(() => expect(store.counters().checkpoints).toBeGreaterThanOrEqual(1), { timeout: 10_000 });
      await store.close();
      closed = true;
      await expect(stat(path.join(dataDir, "imagegate.db-wal"))).rejects.toMatchObject({ code: "ENOENT" });
    } finally {
      if (!closed) await store.close();
    }
  });
});
