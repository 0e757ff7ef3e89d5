import { rm } from "node:fs/promises";
import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SqliteGroupCommit } from "../../src/db/sqlite-group-commit.ts";
import { WalFileSync } from "../../src/db/wal-sync.ts";
import { HeldSync } from "../helpers/held-sync.ts";
import { temporaryDirectory } from "../helpers/test-server.ts";

let directory: string;
let database: SqliteDatabase.Database;
let groupCommit: SqliteGroupCommit;

beforeEach(async () => {
  directory = await temporaryDirectory("imagegate-group-commit-");
  database = new SqliteDatabase(path.join(directory, "test.db"));
  database.pragma("journal_mode = WAL");
  database.pragma("synchronous = FULL");
  database.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)");
  groupCommit = new SqliteGroupCommit(database);
});

afterEach(async () => {
  database.close();
  await rm(directory, { recursive: true, force: true });
});

const insert = (name: string) => () => database.prepare("INSERT INTO items (name) VALUES (?)").run(name).lastInsertRowid;
const names = () => (database.prepare("SELECT name FROM items ORDER BY id").all() as { name: string }[]).map((row) => row.name);

describe("SqliteGroupCommit", () => {
  it("commits writes submitted in the same turn together, once", async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, index) => groupCommit.submit(insert(`item ${index}`))));
    expect(results).toEqual(Array.from({ length: 50 }, (_, index) => index + 1));
    expect(groupCommit.commits).toBe(1);
    expect(groupCommit.writes).toBe(50);
    expect(names()).toHaveLength(50);
  });

  it("undoes a failing write alone; the rest of its group commits", async () => {
    await groupCommit.submit(insert("taken"));
    const outcomes = await Promise.allSettled([
      groupCommit.submit(insert("first")),
      groupCommit.submit(() => {
        database.prepare("INSERT INTO items (name) VALUES (?)").run("half done");
        return insert("taken")();
      }),
      groupCommit.submit(insert("last")),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(names()).toEqual(["taken", "first", "last"]);
  });

  it("resolves only after the commit: a later reader sees every write", async () => {
    let seenBeforeCommit = -1;
    const pending = groupCommit.submit(insert("visible"));
    seenBeforeCommit = names().length;
    await pending;
    expect(seenBeforeCommit).toBe(0);
    const reader = new SqliteDatabase(path.join(directory, "test.db"), { readonly: true });
    try {
      expect(reader.prepare("SELECT count(*) AS count FROM items").get()).toEqual({ count: 1 });
    } finally {
      reader.close();
    }
  });

  it("starts a new group for writes submitted after a commit", async () => {
    await groupCommit.submit(insert("one"));
    await groupCommit.submit(insert("two"));
    expect(groupCommit.commits).toBe(2);
  });
});

describe("SqliteGroupCommit with the log flushed off the event loop", () => {
  const synchronous = () => database.pragma("synchronous", { simple: true });

  it("answers a group only once its log flush is done", async () => {
    const held = new HeldSync();
    const durable = new SqliteGroupCommit(database, held);
    let answered = false;
    const pending = durable.submit(insert("waits for the disk")).then((id) => {
      answered = true;
      return id;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(held.calls).toBe(1);
    expect(names()).toEqual(["waits for the disk"]);
    expect(answered).toBe(false);
    held.finish();
    expect(await pending).toBe(1);
  });

  it("answers a write that asked only for the commit without waiting for the flush", async () => {
    const held = new HeldSync();
    const durable = new SqliteGroupCommit(database, held);
    const order: string[] = [];
    const onDisk = durable.submit(insert("on disk")).then(() => order.push("on disk"));
    const committed = durable.submit(insert("committed"), "committed").then(() => order.push("committed"));
    await committed;
    expect(order).toEqual(["committed"]);
    expect(names()).toEqual(["on disk", "committed"]);
    held.finish();
    await onDisk;
    expect(order).toEqual(["committed", "on disk"]);
  });

  it("asks for no flush for a group in which no write waits for the disk; the next flush covers it", async () => {
    const held = new HeldSync();
    const durable = new SqliteGroupCommit(database, held);
    expect(await durable.submit(insert("committed only"), "committed")).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(held.calls).toBe(0);
    const onDisk = durable.submit(insert("on disk"));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(held.calls).toBe(1);
    held.finish();
    expect(await onDisk).toBe(2);
    expect(names()).toEqual(["committed only", "on disk"]);
  });

  it("commits the next group while the previous one's flush is still running", async () => {
    const held = new HeldSync();
    const durable = new SqliteGroupCommit(database, held);
    const first = durable.submit(insert("first"));
    await new Promise((resolve) => setImmediate(resolve));
    const second = durable.submit(insert("second"));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(durable.commits).toBe(2);
    expect(names()).toEqual(["first", "second"]);
    held.finish();
    expect(await Promise.all([first, second])).toEqual([1, 2]);
  });

  it("tells no caller its write is safe when the flush fails", async () => {
    const held = new HeldSync();
    const durable = new SqliteGroupCommit(database, held);
    const outcomes = Promise.allSettled([durable.submit(insert("a")), durable.submit(insert("b"))]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    held.finish(new Error("EIO: i/o error, fdatasync"));
    expect((await outcomes).map((outcome) => outcome.status)).toEqual(["rejected", "rejected"]);
  });

  it("leaves other writes on the connection at the connection's synchronous level", async () => {
    const held = new HeldSync();
    const durable = new SqliteGroupCommit(database, held);
    expect(synchronous()).toBe(2);
    const pending = durable.submit(() => synchronous());
    await new Promise((resolve) => setTimeout(resolve, 20));
    held.finish();
    // Inside the group SQLite leaves the flush to the WalSync (NORMAL); outside it syncs itself (FULL).
    expect(await pending).toBe(1);
    expect(synchronous()).toBe(2);
  });
});

describe("WalFileSync", () => {
  it("flushes the log file, sharing one flush among callers who arrive while one runs", async () => {
    await groupCommit.submit(insert("makes the log exist"));
    const walSync = new WalFileSync(path.join(directory, "test.db-wal"));
    try {
      await Promise.all(Array.from({ length: 10 }, () => walSync.sync()));
      // The first call starts a flush; the nine arriving while it runs share the one after it.
      expect(walSync.syncs).toBe(2);
      await walSync.sync();
      expect(walSync.syncs).toBe(3);
    } finally {
      await walSync.close();
    }
  });

  it("fails the flush, and the next one opens the log afresh, when the log is missing", async () => {
    const walSync = new WalFileSync(path.join(directory, "missing.db-wal"));
    await expect(walSync.sync()).rejects.toThrow(/ENOENT/);
    await groupCommit.submit(insert("makes the log exist"));
    const present = new WalFileSync(path.join(directory, "test.db-wal"));
    await present.sync();
    expect(present.syncs).toBe(1);
    await Promise.all([walSync.close(), present.close()]);
  });
});
