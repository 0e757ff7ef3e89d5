import type { Selectable } from "kysely";
import type { Account, AccountLimits, ApiKeyRecord, LedgerEntry, LedgerKind } from "../domain/accounts/account.ts";
import type { AccountsTable, ApiKeysTable, CreditLedgerTable } from "./schema.ts";

/** Rows of the accounts, keys and ledger tables as either database answers them, and their domain objects. */
export type AccountRow = Selectable<AccountsTable>;
export type KeyRow = Selectable<ApiKeysTable>;
export type LedgerRow = Selectable<CreditLedgerTable>;

export function limitsOf(row: Pick<AccountRow, "active_task_limit" | "rate_limit_create_task" | "rate_limit_other">): AccountLimits {
  return { activeTasks: row.active_task_limit, createTask: row.rate_limit_create_task, other: row.rate_limit_other };
}

export function toAccount(row: AccountRow): Account {
  return { id: row.id, name: row.name, createdAt: row.created_at, credits: row.credits, limits: limitsOf(row) };
}

export function toKey(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    accountId: row.account_id,
    mode: row.mode,
    hash: row.hash,
    hint: row.hint,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    name: row.name,
    lastUsedAt: row.last_used_at,
  };
}

export function toLedgerEntry(row: LedgerRow): LedgerEntry {
  return {
    id: row.id,
    accountId: row.account_id,
    taskId: row.task_id,
    kind: row.kind as LedgerKind,
    amount: row.amount,
    balanceAfter: row.balance_after,
    reason: row.reason,
    actor: row.actor,
    createdAt: row.created_at,
  };
}
