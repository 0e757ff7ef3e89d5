import path from "node:path";
import { migrate, openSqlite, type SqliteHandle } from "./sqlite.ts";
import { SqliteAccountRepository } from "./sqlite-account-repository.ts";
import { SqliteCallbackOutbox } from "./sqlite-callback-outbox.ts";
import { SqliteReports } from "./sqlite-reports.ts";
import { SqliteTaskRepository } from "./sqlite-task-repository.ts";

export interface SqliteStore {
  handle: SqliteHandle;
  accounts: SqliteAccountRepository;
  tasks: SqliteTaskRepository;
  reports: SqliteReports;
  outbox: SqliteCallbackOutbox;
  close(): Promise<void>;
}

/** The embedded database under DATA_DIR, migrated to the latest schema. */
export async function openSqliteStore(dataDir: string): Promise<SqliteStore> {
  const handle = openSqlite(path.join(dataDir, "imagegate.db"));
  await migrate(handle.db);
  return {
    handle,
    accounts: new SqliteAccountRepository(handle.raw),
    tasks: new SqliteTaskRepository(handle.raw),
    reports: new SqliteReports(handle.db),
    outbox: new SqliteCallbackOutbox(handle.raw),
    close: () => handle.close(),
  };
}
