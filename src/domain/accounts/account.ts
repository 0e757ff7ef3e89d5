export type KeyMode = "live" | "test";

/** Per-account overrides; null means the server's default applies. */
export interface AccountLimits {
  activeTasks: number | null;
  /** A rate policy such as "20/10s". */
  createTask: string | null;
  other: string | null;
}

export const NO_OVERRIDES: AccountLimits = { activeTasks: null, createTask: null, other: null };

export interface Account {
  id: string;
  name: string;
  createdAt: number;
  /** Remaining credits: holds of active tasks already deducted. */
  credits: number;
  limits: AccountLimits;
}

export interface ApiKeyRecord {
  id: string;
  accountId: string;
  mode: KeyMode;
  hash: string;
  hint: string;
  createdAt: number;
  revokedAt: number | null;
  /** What the account calls the key, if it gave a name. */
  name: string | null;
  /** When the key was last used, to about a minute (see KeyUsage); null when never seen used. */
  lastUsedAt: number | null;
}

export interface KeyUse {
  keyId: string;
  at: number;
}

/** Who is calling, once a key has been verified. */
export interface Caller {
  accountId: string;
  keyId: string;
  /** The key's SHA-256 as stored: finds the key again (see AccountService.recheck) without the secret. */
  keyHash: string;
  mode: KeyMode;
  limits: AccountLimits;
}

export type LedgerKind = "grant" | "deduct" | "hold" | "capture" | "release";

/** One movement of credits. `amount` is signed: what it did to the balance. */
export interface LedgerEntry {
  id: number;
  accountId: string;
  taskId: string | null;
  kind: LedgerKind;
  amount: number;
  balanceAfter: number;
  reason: string | null;
  actor: string | null;
  createdAt: number;
}

export interface AuditEntry {
  at: number;
  /** Who made the change: "cli", "admin-api". */
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
}

export interface AccountRepository {
  createAccount(account: Account): Promise<void>;
  findAccountByName(name: string): Promise<Account | null>;
  findAccountById(id: string): Promise<Account | null>;
  listAccounts(): Promise<Account[]>;
  countAccounts(): Promise<number>;
  insertKey(key: ApiKeyRecord): Promise<void>;
  findKey(keyId: string): Promise<ApiKeyRecord | null>;
  /** The key with this hash and its account's limits, in one read: this runs on every request. */
  findCallerByKeyHash(hash: string): Promise<{ key: ApiKeyRecord; limits: AccountLimits } | null>;
  listKeys(accountId?: string): Promise<ApiKeyRecord[]>;
  /** Marks the key revoked; false when no such (unrevoked) key exists. */
  revokeKey(keyId: string, now: number): Promise<boolean>;
  /** Records when keys were used; an earlier time than the one recorded changes nothing. */
  recordKeyUse(uses: readonly KeyUse[]): Promise<void>;
  /**
   * Adds `amount` (negative to take away) and records it in the ledger, in one transaction.
   * Null when the balance would go below zero: nothing changes then.
   */
  adjustCredits(change: {
    accountId: string;
    amount: number;
    kind: "grant" | "deduct";
    reason: string;
    actor: string;
    now: number;
  }): Promise<{ balance: number } | null>;
  /** The account's entries newest first, only those older than `beforeId` when it is given. */
  ledger(accountId: string, limit: number, beforeId?: number): Promise<LedgerEntry[]>;
  /** Sum of every ledger amount of the account: always equals its balance. */
  ledgerSum(accountId: string): Promise<number>;
  setLimits(accountId: string, limits: Partial<AccountLimits>): Promise<void>;
  recordAudit(entry: AuditEntry): Promise<void>;
  /** The account's webhook secret, or null when none was made yet. */
  webhookSecret(accountId: string): Promise<string | null>;
  /** Stores `secret` unless the account has one and `replace` is false; answers the secret in force. */
  storeWebhookSecret(accountId: string, secret: string, replace: boolean): Promise<string>;
  listAudit(limit: number): Promise<AuditEntry[]>;
}
