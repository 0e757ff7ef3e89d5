import { copyFile, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { openSqliteStore } from "../../src/db/sqlite-store.ts";
import { BACKGROUND_AUTOCHECKPOINT_FRAMES, WalCheckpointer, type CheckpointThresholds } from "../../src/db/wal-checkpoint.ts";
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
  const closing = checkpointers.splice(0);
  await Promise.all(closing.map((checkpointer) => checkpointer.close()));
  database.close();
  for (const checkpointer of closing) checkpointer.closeLogIndex();
  await rm(directory, { recursive: true, force: true });
});

interface Listeners {
  onFailure: (error: Error) => void;
  onRecovery: () => void;
}

/** Due as soon as a frame waits, unless the test says otherwise. */
const EAGER = { pendingFrames: 1, longLogFrames: 1_000_000, nearBoundPending: 1, boundFrames: 1_000_000 };

function checkpointer(
  options: { listeners?: Listeners; thresholds?: CheckpointThresholds; at?: string } = {},
): WalCheckpointer {
  const made = new WalCheckpointer(
    options.at ?? file,
    options.listeners ?? { onFailure: () => undefined, onRecovery: () => undefined },
    () => database.pragma("wal_checkpoint(PASSIVE)"),
    options.thresholds ?? EAGER,
  );
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

/** Writes rows of about a page each until the log holds `frames` frames. */
function writeUntilFrames(background: WalCheckpointer, frames: number): void {
  const statement = database.prepare("INSERT INTO items (name) VALUES (?)");
  while ((background.logLength()?.frames ?? 0) < frames) statement.run("x".repeat(4_000));
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 100));

describe("WalCheckpointer", () => {
  it("reads the log's length and what is checkpointed as SQLite counts them", () => {
    const background = checkpointer();
    insert(100);
    const before = background.logLength();
    expect(before?.frames).toBeGreaterThan(0);
    expect(before?.backfilled).toBe(0);
    // Checkpointing by hand here says what SQLite itself counts.
    const [counted] = database.pragma("wal_checkpoint(PASSIVE)") as { log: number; checkpointed: number }[];
    expect(background.logLength()).toEqual({ frames: counted?.log, backfilled: counted?.checkpointed });
    expect(counted?.log).toBe(before?.frames);
  });

  it("copies committed frames into the database file on its own thread", async () => {
    const background = checkpointer();
    insert(100);
    expect(await rowsInDatabaseFile()).toBe(0);
    background.committed();
    await vi.waitFor(() => expect(background.checkpoints).toBe(1), { timeout: 10_000 });
    expect(await rowsInDatabaseFile()).toBe(100);
    const log = background.logLength();
    expect(log?.backfilled).toBe(log?.frames);
  });

  it.each([
    ["as many frames wait as SQLite's own checkpoint would", { pendingFrames: 40, longLogFrames: 1_000_000, nearBoundPending: 1 }, 40],
    ["fewer frames wait once the log is long", { pendingFrames: 1_000_000, longLogFrames: 50, nearBoundPending: 5 }, 50],
  ])("waits until %s", async (_what, thresholds, dueAt) => {
    const background = checkpointer({ thresholds: { ...thresholds, boundFrames: 1_000_000 } });
    writeUntilFrames(background, 10);
    background.committed();
    await settle();
    expect(background.checkpoints).toBe(0);
    writeUntilFrames(background, dueAt);
    background.committed();
    await vi.waitFor(() => expect(background.checkpoints).toBe(1), { timeout: 10_000 });
  });

  it("copies a long log's last few frames on the committing connection, so that the log starts over", async () => {
    const background = checkpointer({ thresholds: { pendingFrames: 1_000_000, longLogFrames: 30, nearBoundPending: 5, boundFrames: 50 } });
    // A reader's snapshot keeps the thread's checkpoint from finishing the log, as steady writes would.
    const reader = new SqliteDatabase(file, { readonly: true });
    try {
      reader.exec("BEGIN");
      reader.prepare("SELECT count(*) FROM items").get();
      writeUntilFrames(background, 60);
      background.committed();
      // Too much is left for the event loop: the thread is asked instead.
      expect(background.restartCheckpoints).toBe(0);
      await vi.waitFor(() => expect(background.checkpoints).toBe(1), { timeout: 10_000 });
      reader.exec("COMMIT");
    } finally {
      reader.close();
    }
    background.committed();
    await vi.waitFor(() => expect(background.checkpoints).toBe(2), { timeout: 10_000 });
    const log = background.logLength();
    expect(log?.backfilled).toBe(log?.frames);
    insert(1);
    // The thread copied everything while no write came: the log already started over.
    expect(background.logLength()?.frames).toBeLessThanOrEqual(3);
    writeUntilFrames(background, 60);
    // Another reader leaves the thread's checkpoint a frame or two short, as a commit during it would.
    const late = new SqliteDatabase(file, { readonly: true });
    try {
      late.exec("BEGIN");
      late.prepare("SELECT count(*) FROM items").get();
      insert(1);
      background.committed();
      await vi.waitFor(() => expect(background.checkpoints).toBe(3), { timeout: 10_000 });
      late.exec("COMMIT");
    } finally {
      late.close();
    }
    const short = background.logLength();
    expect((short?.frames ?? 0) - (short?.backfilled ?? 0)).toBeGreaterThan(0);
    // A frame or two wait and the log is past its bound: this connection copies them at once.
    background.committed();
    expect(background.restartCheckpoints).toBe(1);
    expect(background.logLength()?.backfilled).toBe(background.logLength()?.frames);
    insert(1);
    expect(background.logLength()?.frames).toBeLessThanOrEqual(3);
  });

  it("reports a failed checkpoint on the committing connection instead of throwing it at the commit", () => {
    const failures: Error[] = [];
    const background = new WalCheckpointer(
      file,
      { onFailure: (error) => void failures.push(error), onRecovery: () => undefined },
      () => {
        throw new Error("disk I/O error");
      },
      { pendingFrames: 1_000_000, longLogFrames: 1_000_000, nearBoundPending: 1_000_000, boundFrames: 1 },
    );
    checkpointers.push(background);
    insert(1);
    expect(() => background.committed()).not.toThrow();
    expect(background.failures).toBe(1);
    expect(failures.map((error) => error.message)).toEqual(["disk I/O error"]);
    expect(background.restartCheckpoints).toBe(0);
  });

  it("lets the log start over once it has copied every frame", async () => {
    const background = checkpointer();
    insert(2_000);
    background.committed();
    await vi.waitFor(() => expect(background.checkpoints).toBe(1), { timeout: 10_000 });
    const framesBefore = background.logLength()?.frames ?? 0;
    const logBytes = (await stat(`${file}-wal`)).size;
    insert(1);
    // The write went to the start of the log: the log counts its frames alone, and did not grow.
    expect(background.logLength()?.frames).toBeLessThan(framesBefore);
    expect(background.logLength()?.frames).toBeLessThanOrEqual(3);
    expect((await stat(`${file}-wal`)).size).toBe(logBytes);
  });

  it("looks at the log again after a checkpoint during which a commit made another due", async () => {
    const background = checkpointer();
    insert(10);
    // A reader's snapshot keeps a checkpoint from copying the frames written after it.
    const reader = new SqliteDatabase(file, { readonly: true });
    try {
      reader.exec("BEGIN");
      reader.prepare("SELECT count(*) FROM items").get();
      const readerFrames = background.logLength()?.frames;
      insert(5);
      background.committed();
      // During that checkpoint: due again, so once it ends another runs, which copies what the
      // reader allows and leaves the rest.
      background.committed();
      await vi.waitFor(() => expect(background.checkpoints).toBe(2), { timeout: 10_000 });
      await settle();
      expect(background.checkpoints).toBe(2);
      expect(background.logLength()?.backfilled).toBe(readerFrames);
      expect(background.logLength()?.frames).toBeGreaterThan(readerFrames ?? 0);
      reader.exec("COMMIT");
    } finally {
      reader.close();
    }
    insert(1);
    background.committed();
    await vi.waitFor(() => expect(background.checkpoints).toBe(3), { timeout: 10_000 });
    expect(background.logLength()?.backfilled).toBe(background.logLength()?.frames);
    expect(await rowsInDatabaseFile()).toBe(16);
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
    const failures: Error[] = [];
    let recoveries = 0;
    const listeners = { onFailure: (error: Error) => void failures.push(error), onRecovery: () => void (recoveries += 1) };
    const background = checkpointer({ listeners });
    insert(10);
    // The thread's connection cannot open the database while the file is elsewhere.
    await rename(file, `${file}.away`);
    background.committed();
    await vi.waitFor(() => expect(background.failures).toBe(1), { timeout: 10_000 });
    insert(1);
    background.committed();
    await vi.waitFor(() => expect(background.failures).toBe(2), { timeout: 10_000 });
    expect(failures).toHaveLength(1);
    expect(failures[0]?.message).toMatch(/unable to open|does not exist/i);

    await rename(`${file}.away`, file);
    insert(1);
    background.committed();
    await vi.waitFor(() => expect(background.checkpoints).toBe(1), { timeout: 10_000 });
    expect(recoveries).toBe(1);
    expect(failures).toHaveLength(1);
    expect(await rowsInDatabaseFile()).toBe(12);
  });

  it("without the wal-index to read, checkpoints every hundredth commit", async () => {
    const background = checkpointer({ at: path.join(directory, "elsewhere.db") });
    expect(background.logLength()).toBeNull();
    for (let index = 0; index < 99; index += 1) background.committed();
    await settle();
    expect(background.checkpoints + background.failures).toBe(0);
    background.committed();
    await vi.waitFor(() => expect(background.checkpoints + background.failures).toBe(1), { timeout: 10_000 });
  });

  it("starts no checkpoint after close", async () => {
    const background = checkpointer();
    await background.close();
    insert(10);
    background.committed();
    await settle();
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
      // Enough frames for a checkpoint to be due, written past the group commit ...
      const audit = store.handle.raw.prepare("INSERT INTO audit_log (at, actor, action, target, details) VALUES (0, 'test', 'test', 'test', ?)");
      for (let index = 0; index < 1_100; index += 1) audit.run("x".repeat(4_000));
      expect(store.counters().checkpoints).toBe(0);
      // ... and the next commit of the group commit finds it due.
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
