import path from "node:path";
import type { CommitCounters } from "../observability/runtime-metrics.ts";
import { migrate, openSqlite, type SqliteHandle } from "./sqlite.ts";
import { ExternalWrites } from "./external-writes.ts";
import { SqliteAccountRepository } from "./sqlite-account-repository.ts";
import { SqliteCallbackOutbox } from "./sqlite-callback-outbox.ts";
import { SqliteGroupCommit } from "./sqlite-group-commit.ts";
import { SqliteReports } from "./sqlite-reports.ts";
import { SqliteTaskRepository } from "./sqlite-task-repository.ts";
import { WalFileSync } from "./wal-sync.ts";

export interface SqliteStore {
  handle: SqliteHandle;
  accounts: SqliteAccountRepository;
  tasks: SqliteTaskRepository;
  reports: SqliteReports;
  outbox: SqliteCallbackOutbox;
  /** The group commit's and the log flush's counters, for /metrics. */
  counters(): CommitCounters;
  close(): Promise<void>;
}

/** The embedded database under DATA_DIR, migrated to the latest schema. */
export async function openSqliteStore(dataDir: string): Promise<SqliteStore> {
  const handle = openSqlite(path.join(dataDir, "imagegate.db"));
  await migrate(handle.db);
  const walSync = new WalFileSync(`${handle.file}-wal`);
  const groupCommit = new SqliteGroupCommit(handle.raw, walSync);
  const externalWrites = new ExternalWrites(handle.raw);
  return {
    handle,
    accounts: new SqliteAccountRepository(handle.raw, externalWrites),
    tasks: new SqliteTaskRepository(handle.raw, groupCommit, externalWrites),
    counters: () => ({
      commits: groupCommit.commits,
      writes: groupCommit.writes,
      busyMs: groupCommit.busyMs,
      syncs: walSync.syncs,
      syncMs: walSync.syncMs,
    }),
    reports: new SqliteReports(handle.db),
    outbox: new SqliteCallbackOutbox(handle.raw),
    close: async () => {
      await walSync.close();
      await handle.close();
    },
  };
}
