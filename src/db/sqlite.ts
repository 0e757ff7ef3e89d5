import { mkdirSync } from "node:fs";
import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, Migrator, SqliteDialect } from "kysely";
import { migrationProvider } from "./migrations.ts";
import type { Database } from "./schema.ts";

export interface SqliteHandle {
  /** The database file, or ":memory:". */
  file: string;
  db: Kysely<Database>;
  raw: SqliteDatabase.Database;
  close(): Promise<void>;
}

/**
 * Reads of the database's first GiB go through a memory map instead of a read() call per page:
 * a lookup by id in a table too large for SQLite's page cache touches half a dozen pages, which
 * cost a system call each; mapped, pages the OS already caches cost a memory access. Writes still
 * go through the write-ahead log as before.
 */
const MEMORY_MAPPED_BYTES = 1024 * 1024 * 1024;

/**
 * Opens (creating if needed) the embedded database. WAL with synchronous=FULL: a commit is on
 * disk before the caller hears of it, so an acknowledged task survives a power loss.
 */
export function openSqlite(file: string): SqliteHandle {
  if (file !== ":memory:") mkdirSync(path.dirname(file), { recursive: true });
  const raw = new SqliteDatabase(file);
  raw.pragma("journal_mode = WAL");
  raw.pragma("synchronous = FULL");
  raw.pragma("foreign_keys = ON");
  raw.pragma("busy_timeout = 5000");
  raw.pragma(`mmap_size = ${MEMORY_MAPPED_BYTES}`);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }) });
  return {
    file,
    db,
    raw,
    close: async () => {
      await db.destroy();
    },
  };
}

export async function migrate(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((result) => result.status === "Error");
  if (error !== undefined || failed !== undefined) {
    throw new Error(`database migration ${failed?.migrationName ?? ""} failed`, { cause: error });
  }
}
