import { rm } from "node:fs/promises";
import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openSqlite, type SqliteHandle } from "../../src/db/sqlite.ts";
import { temporaryDirectory } from "../helpers/test-server.ts";

let directory: string;
let handle: SqliteHandle;

beforeEach(async () => {
  directory = await temporaryDirectory("imagegate-memory-map-");
  handle = openSqlite(path.join(directory, "imagegate.db"));
  handle.raw.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
});

afterEach(async () => {
  await handle.close();
  await rm(directory, { recursive: true, force: true });
});

describe("the embedded database's memory map", () => {
  it("maps the database's first GiB for reads", () => {
    expect(handle.raw.pragma("mmap_size", { simple: true })).toBe(1024 * 1024 * 1024);
  });

  it("reads what is in the database file and what is still only in the log alike", () => {
    const insert = handle.raw.prepare("INSERT INTO items (id, body) VALUES (?, ?)");
    const body = (id: number) => `item ${id} `.repeat(200);
    handle.raw.transaction(() => {
      for (let id = 1; id <= 2_000; id += 1) insert.run(id, body(id));
    })();
    // The first rows move into the database file, the later ones stay in the write-ahead log.
    handle.raw.pragma("wal_checkpoint(TRUNCATE)");
    handle.raw.transaction(() => {
      for (let id = 2_001; id <= 2_500; id += 1) insert.run(id, body(id));
    })();
    handle.raw.prepare("UPDATE items SET body = 'changed' WHERE id = 7").run();

    const read = handle.raw.prepare("SELECT body FROM items WHERE id = ?").pluck();
    expect(read.get(7)).toBe("changed");
    expect(read.get(1_999)).toBe(body(1_999));
    expect(read.get(2_400)).toBe(body(2_400));

    // Another connection without the map reads the same rows.
    const unmapped = new SqliteDatabase(handle.file, { readonly: true });
    try {
      expect(unmapped.pragma("mmap_size", { simple: true })).toBe(0);
      const all = (connection: SqliteDatabase.Database) =>
        connection.prepare("SELECT count(*) AS rows, sum(length(body)) AS bytes FROM items").get();
      expect(all(unmapped)).toEqual(all(handle.raw));
    } finally {
      unmapped.close();
    }
  });
});
