import { rm } from "node:fs/promises";
import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SqliteGroupCommit } from "../../src/db/sqlite-group-commit.ts";
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
