import { cp, mkdir, open, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { backupSqliteDatabase } from "../db/sqlite-backup.ts";
import { CliFailure } from "./commands/cli-support.ts";

export interface BackupSummary {
  databaseBytes: number;
  resultFiles: number;
  resultBytes: number;
  milliseconds: number;
}

const DATABASE_FILE = "imagegate.db";
/** Half-written files of the result store's writing thread: never part of a result. */
const TEMPORARY_SUFFIX = ".tmp";
/** A result's metadata, rebuilt from the file when it no longer matches it (as after a copy). */
const SIDECAR_SUFFIX = ".meta.json";

/**
 * Copies what a server keeps in `dataDir` into the new directory `target`, while it runs: the
 * database as one consistent snapshot first, then the result files and the URL-signing key. A
 * file written after the snapshot is copied harmlessly (the snapshot knows no task of it); one
 * the snapshot names was already on disk, since a result is stored before its task succeeds.
 */
export async function backupDataDirectory(dataDir: string, target: string): Promise<BackupSummary> {
  const started = performance.now();
  const source = path.join(dataDir, DATABASE_FILE);
  await refuseUnlessEmpty(target);
  await mkdir(target, { recursive: true, mode: 0o700 });
  let database: { bytes: number };
  try {
    database = await backupSqliteDatabase(source, path.join(target, DATABASE_FILE));
  } catch (error) {
    if (error instanceof Error && error.message.startsWith("there is no database")) {
      throw new CliFailure(`${error.message}: set DATA_DIR to the server's data directory`);
    }
    throw error;
  }
  const results = await copyTree(path.join(dataDir, "results"), path.join(target, "results"));
  await copyTree(path.join(dataDir, "secrets"), path.join(target, "secrets"));
  await syncDirectory(target);
  return {
    databaseBytes: database.bytes,
    resultFiles: results.files,
    resultBytes: results.bytes,
    milliseconds: Math.round(performance.now() - started),
  };
}

async function refuseUnlessEmpty(target: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    if ((error as NodeJS.ErrnoException).code === "ENOTDIR") throw new CliFailure(`${target} is a file, not a directory`);
    throw error;
  }
  if (entries.length > 0) throw new CliFailure(`${target} is not empty: back up into a new or empty directory`);
}

/** Copies a directory tree, keeping modes and times, leaving temporaries out; absent is empty. */
async function copyTree(from: string, to: string): Promise<{ files: number; bytes: number }> {
  const counted = { files: 0, bytes: 0 };
  try {
    await stat(from);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return counted;
    throw error;
  }
  await cp(from, to, {
    recursive: true,
    preserveTimestamps: true,
    errorOnExist: true,
    force: false,
    filter: async (file) => {
      if (file.endsWith(TEMPORARY_SUFFIX)) return false;
      const info = await stat(file).catch(() => null);
      // A file the retention sweep deletes meanwhile is simply not copied.
      if (info === null) return false;
      if (info.isFile() && !file.endsWith(SIDECAR_SUFFIX)) {
        counted.files += 1;
        counted.bytes += info.size;
      }
      return true;
    },
  });
  return counted;
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
