/** How operators see records, as JSON: shared by the admin API and the CLI so both print the same. */
import type { ApiKeyRecord, LedgerEntry } from "../domain/accounts/account.ts";
import { toRecord, type Task, type TaskRecord } from "../domain/tasks/task.ts";

export type KeyView = Omit<ApiKeyRecord, "hash">;

/** A key as operators see it: never its hash. */
export function keyView(record: ApiKeyRecord): KeyView {
  const { hash: _hash, ...view } = record;
  return view;
}

export type LedgerView = Omit<LedgerEntry, "accountId">;

export function ledgerView(entry: LedgerEntry): LedgerView {
  const { accountId: _accountId, ...view } = entry;
  return view;
}

export interface AdminTaskView extends TaskRecord {
  accountId: string;
  accountName: string | null;
  apiKeyId: string | null;
  mode: "live" | "test";
  callBackUrl: string | null;
  creditsHeld: number;
  attempts: number;
  upstreamAttempts: number;
  deadlineTime: number;
}

/** The recordInfo fields plus what only an operator may see. */
export function adminTaskView(task: Task, accountName: string | null): AdminTaskView {
  return {
    ...toRecord(task),
    accountId: task.accountId,
    accountName,
    apiKeyId: task.apiKeyId,
    mode: task.mode,
    callBackUrl: task.callbackUrl,
    creditsHeld: task.creditsHeld,
    attempts: task.attempts,
    upstreamAttempts: task.upstreamAttempts,
    deadlineTime: task.deadlineTime,
  };
}
