/** How an account sees its own records through its keys: as operators see them, less what is the operator's. */
import type { ApiKeyRecord, KeyMode } from "../domain/accounts/account.ts";
import type { UsageRow } from "../domain/tasks/reports.ts";

/** One of the account's own keys: never the key, nor its hash. */
export interface OwnKeyView {
  id: string;
  /** The key's first characters (ig_live_ or ig_test_ and four more), to tell keys apart. */
  prefix: string;
  mode: KeyMode;
  name: string | null;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
  /** True for the key that made the request. */
  current: boolean;
}

export function ownKeyView(record: ApiKeyRecord, callerKeyId: string): OwnKeyView {
  return {
    id: record.id,
    prefix: record.hint.replace(/…$/, ""),
    mode: record.mode,
    name: record.name,
    createdAt: record.createdAt,
    lastUsedAt: record.lastUsedAt,
    revokedAt: record.revokedAt,
    current: record.id === callerKeyId,
  };
}

export type OwnUsageView = Omit<UsageRow, "accountId" | "accountName">;

export function ownUsageView(row: UsageRow): OwnUsageView {
  const { accountId: _accountId, accountName: _accountName, ...view } = row;
  return view;
}
