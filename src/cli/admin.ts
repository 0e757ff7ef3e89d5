import path from "node:path";
import { loadConfig } from "../config.ts";
import { KyselyAccountRepository } from "../db/kysely-account-repository.ts";
import { migrate, openSqlite } from "../db/sqlite.ts";
import { AccountService } from "../domain/accounts/account-service.ts";
import { systemClock } from "../domain/clock.ts";

export interface AdminSession {
  accounts: AccountService;
  close(): Promise<void>;
}

/** Opens the server's database directly, for the administration commands. */
export async function openAdminSession(env: Readonly<Record<string, string | undefined>>): Promise<AdminSession> {
  const config = loadConfig(env);
  const handle = openSqlite(path.join(config.dataDir, "imagegate.db"));
  await migrate(handle.db);
  return {
    accounts: new AccountService(new KyselyAccountRepository(handle.db), systemClock),
    close: () => handle.close(),
  };
}
