import path from "node:path";
import { migrate, openSqlite, type SqliteHandle } from "./sqlite.ts";
import { SqliteAccountRepository } from "./sqlite-account-repository.ts";
import { SqliteCallbackOutbox } from "./sqlite-callback-outbox.ts";
import { SqliteGroupCommit } from "./sqlite-group-commit.ts";
import { SqliteReports } from "./sqlite-reports.ts";
import { SqliteTaskRepository } from "./sqlite-task-repository.ts";

export interface SqliteStore {
  handle: SqliteHandle;
  accounts: SqliteAccountRepository;
  tasks: SqliteTaskRepository;
  reports: SqliteReports;
  outbox: SqliteCallbackOutbox;
  groupCommit: SqliteGroupCommit;
  close(): Promise<void>;
}

/** The embedded database under DATA_DIR, migrated to the latest schema. */
export async function openSqliteStore(dataDir: string): Promise<SqliteStore> {
  const handle = openSqlite(path.join(dataDir, "imagegate.db"));
  await migrate(handle.db);
  const groupCommit = new SqliteGroupCommit(handle.raw);
  return {
    handle,
    accounts: new SqliteAccountRepository(handle.raw),
    tasks: new SqliteTaskRepository(handle.raw, groupCommit),
    groupCommit,
    reports: new SqliteReports(handle.db),
    outbox: new SqliteCallbackOutbox(handle.raw),
    close: () => handle.close(),
  };
}
