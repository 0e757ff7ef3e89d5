import path from "node:path";
import type { CommitCounters } from "../observability/database-metrics.ts";
import { migrate, openSqlite, type SqliteHandle } from "./sqlite.ts";
import { ExternalWrites } from "./external-writes.ts";
import { SqliteAccountRepository } from "./sqlite-account-repository.ts";
import { SqliteCallbackOutbox } from "./sqlite-callback-outbox.ts";
import { SqliteGroupCommit } from "./sqlite-group-commit.ts";
import { SqliteReports } from "./sqlite-reports.ts";
import { SqliteTaskRepository } from "./sqlite-task-repository.ts";
import { SqliteUploadRepository } from "./sqlite-upload-repository.ts";
import { WalFileSync } from "./wal-sync.ts";
import { BACKGROUND_AUTOCHECKPOINT_FRAMES, WalCheckpointer } from "./wal-checkpoint.ts";

export interface SqliteStore {
  handle: SqliteHandle;
  accounts: SqliteAccountRepository;
  tasks: SqliteTaskRepository;
  reports: SqliteReports;
  outbox: SqliteCallbackOutbox;
  uploads: SqliteUploadRepository;
  /** The group commit's and the log flush's counters, for /metrics. */
  counters(): CommitCounters;
  close(): Promise<void>;
}

export interface SqliteStoreOptions {
  /**
   * Checkpoint the write-ahead log on a thread of its own rather than on the event loop (see
   * WalCheckpointer), for a server under load; the listeners hear when checkpoints start and
   * stop failing. Without it SQLite checkpoints as usual, as a short-lived command wants.
   */
  backgroundCheckpoints?: { onFailure: (error: Error) => void; onRecovery: () => void };
}

/** The embedded database under DATA_DIR, migrated to the latest schema. */
export async function openSqliteStore(dataDir: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
  const handle = openSqlite(path.join(dataDir, "imagegate.db"));
  await migrate(handle.db);
  const walSync = new WalFileSync(`${handle.file}-wal`);
  const checkpointer =
    options.backgroundCheckpoints === undefined
      ? null
      : new WalCheckpointer(handle.file, options.backgroundCheckpoints, () => handle.raw.pragma("wal_checkpoint(PASSIVE)"));
  if (checkpointer !== null) handle.raw.pragma(`wal_autocheckpoint = ${BACKGROUND_AUTOCHECKPOINT_FRAMES}`);
  const groupCommit = new SqliteGroupCommit(handle.raw, walSync, () => checkpointer?.committed());
  const externalWrites = new ExternalWrites(handle.raw);
  return {
    handle,
    accounts: new SqliteAccountRepository(handle.raw, groupCommit, externalWrites),
    tasks: new SqliteTaskRepository(handle.raw, groupCommit, externalWrites),
    counters: () => ({
      commits: groupCommit.commits,
      writes: groupCommit.writes,
      busyMs: groupCommit.busyMs,
      syncs: walSync.syncs,
      syncMs: walSync.syncMs,
      checkpoints: checkpointer?.checkpoints ?? 0,
      checkpointMs: checkpointer?.checkpointMs ?? 0,
      restartCheckpoints: checkpointer?.restartCheckpoints ?? 0,
      restartCheckpointMs: checkpointer?.restartCheckpointMs ?? 0,
      logFrames: checkpointer?.logFrames ?? 0,
    }),
    reports: new SqliteReports(handle.db),
    outbox: new SqliteCallbackOutbox(handle.raw, groupCommit),
    uploads: new SqliteUploadRepository(handle.raw, groupCommit),
    close: async () => {
      // First: no checkpoint runs on while the server's connection closes.
      await checkpointer?.close();
      await walSync.close();
      await handle.close();
      checkpointer?.closeLogIndex();
    },
  };
}
