import { existsSync } from "node:fs";
import { open, stat } from "node:fs/promises";
import SqliteDatabase from "better-sqlite3";

/**
 * Writes a consistent copy of the database at `source` to `target` while a server may be writing
 * to it. `VACUUM INTO` reads the whole database in one read transaction, so the copy is the state
 * at one moment, and in WAL mode that transaction blocks no writer; SQLite's online backup API
 * instead restarts whenever another connection writes, and under steady load may never finish.
 * The copy is flushed before this answers: a backup that a crash can undo is no backup.
 */
export async function backupSqliteDatabase(source: string, target: string): Promise<{ bytes: number }> {
  if (!existsSync(source)) throw new Error(`there is no database at ${source}`);
  const database = new SqliteDatabase(source, { fileMustExist: true });
  try {
    database.pragma("busy_timeout = 5000");
    database.prepare("VACUUM INTO ?").run(target);
  } finally {
    database.close();
  }
  const handle = await open(target, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { bytes: (await stat(target)).size };
}
