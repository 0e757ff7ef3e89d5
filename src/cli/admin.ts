import { loadConfig } from "../config.ts";
import { openSqliteStore } from "../db/sqlite-store.ts";
import { AccountService } from "../domain/accounts/account-service.ts";
import { systemClock } from "../domain/clock.ts";
import type { TaskReports } from "../domain/tasks/reports.ts";

export interface AdminSession {
  accounts: AccountService;
  reports: TaskReports;
  close(): Promise<void>;
}

/** Opens the server's database directly, for the administration commands. */
export async function openAdminSession(env: Readonly<Record<string, string | undefined>>): Promise<AdminSession> {
  const config = loadConfig(env);
  const store = await openSqliteStore(config.dataDir);
  return {
    accounts: new AccountService(store.accounts, systemClock),
    reports: store.reports,
    close: () => store.close(),
  };
}
