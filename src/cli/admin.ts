import { loadConfig } from "../config.ts";
import { openStorage } from "../composition/storage.ts";
import { AccountService } from "../domain/accounts/account-service.ts";
import { CallbackService } from "../domain/callbacks/callback-service.ts";
import { Catalog } from "../domain/catalog/catalog.ts";
import { systemClock } from "../domain/clock.ts";
import type { TaskReports } from "../domain/tasks/reports.ts";
import { TaskService } from "../domain/tasks/task-service.ts";

export interface AdminSession {
  accounts: AccountService;
  /** For reading tasks only: the CLI has no workers, so it never creates one. */
  tasks: TaskService;
  reports: TaskReports;
  /** Without a sender: a redelivery is sent by the running server's sender at its next poll. */
  callbacks: CallbackService;
  close(): Promise<void>;
}

/** Opens the server's database directly, as the server does, for the administration commands. */
export async function openAdminSession(env: Readonly<Record<string, string | undefined>>): Promise<AdminSession> {
  const config = loadConfig(env);
  const store = await openStorage(config);
  // Administration only reads tasks; it never hands one to a worker.
  const readOnlyQueue = { handsOverAtOnce: false, enqueue: () => undefined };
  const tasks = new TaskService(store.tasks, new Catalog({ prices: config.prices }), readOnlyQueue, systemClock, {
    taskTimeoutMs: config.taskTimeoutMs,
    activeTaskLimit: config.activeTaskLimit,
  });
  const accounts = new AccountService(store.accounts, systemClock);
  return {
    accounts,
    tasks,
    reports: store.reports,
    callbacks: new CallbackService(store.outbox, accounts, systemClock),
    close: () => store.close(),
  };
}
