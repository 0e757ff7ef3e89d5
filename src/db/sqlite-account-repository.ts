import type SqliteDatabase from "better-sqlite3";
import type { Account, AccountLimits, AccountRepository, ApiKeyRecord, AuditEntry, KeyUse, LedgerEntry } from "../domain/accounts/account.ts";
import { limitsOf, toAccount, toKey, toLedgerEntry, type AccountRow, type KeyRow, type LedgerRow } from "./account-rows.ts";
import { ExternalWrites } from "./external-writes.ts";
import type { SqliteGroupCommit } from "./sqlite-group-commit.ts";

const CALLER_CACHE_SIZE = 10_000;

function prepareStatements(database: SqliteDatabase.Database) {
  const prepare = (sql: string) => database.prepare(sql);
  return {
    insertAccount: prepare(
      "INSERT INTO accounts (id, name, created_at, credits) VALUES (@id, @name, @createdAt, @credits)",
    ),
    accountByName: prepare("SELECT * FROM accounts WHERE name = ?"),
    accountById: prepare("SELECT * FROM accounts WHERE id = ?"),
    listAccounts: prepare("SELECT * FROM accounts ORDER BY id"),
    countAccounts: prepare("SELECT count(*) AS count FROM accounts"),
    insertKey: prepare(
      `INSERT INTO api_keys (id, account_id, mode, hash, hint, created_at, revoked_at, name, last_used_at)
       VALUES (@id, @accountId, @mode, @hash, @hint, @createdAt, @revokedAt, @name, @lastUsedAt)`,
    ),
    keyById: prepare("SELECT * FROM api_keys WHERE id = ?"),
    callerByHash: prepare(
      `SELECT k.*, a.active_task_limit, a.rate_limit_create_task, a.rate_limit_other
       FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.hash = ?`,
    ),
    listKeys: prepare("SELECT * FROM api_keys ORDER BY id"),
    listKeysOfAccount: prepare("SELECT * FROM api_keys WHERE account_id = ? ORDER BY id"),
    revokeKey: prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"),
    recordKeyUse: prepare("UPDATE api_keys SET last_used_at = @at WHERE id = @keyId AND (last_used_at IS NULL OR last_used_at < @at)"),
    adjust: prepare(
      "UPDATE accounts SET credits = credits + @amount WHERE id = @accountId AND credits + @amount >= 0 RETURNING credits",
    ),
    insertLedger: prepare(
      `INSERT INTO credit_ledger (account_id, task_id, kind, amount, balance_after, reason, actor, created_at)
       VALUES (@accountId, NULL, @kind, @amount, @balanceAfter, @reason, @actor, @now)`,
    ),
    ledger: prepare("SELECT * FROM credit_ledger WHERE account_id = ? AND id < ? ORDER BY id DESC LIMIT ?"),
    ledgerSum: prepare("SELECT coalesce(sum(amount), 0) AS total FROM credit_ledger WHERE account_id = ?"),
    insertAudit: prepare(
      "INSERT INTO audit_log (at, actor, action, target, details) VALUES (@at, @actor, @action, @target, @details)",
    ),
    listAudit: prepare("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?"),
    webhookSecret: prepare("SELECT webhook_secret AS secret FROM accounts WHERE id = ?"),
    setWebhookSecret: prepare("UPDATE accounts SET webhook_secret = ? WHERE id = ?"),
    setWebhookSecretIfNone: prepare("UPDATE accounts SET webhook_secret = ? WHERE id = ? AND webhook_secret IS NULL"),
  };
}

/**
 * Accounts, keys, credits and the audit trail on the embedded SQLite database. Writes go through
 * the group commit, as the tasks' do, so an administrator's change costs the event loop a shared
 * commit rather than a commit and an fsync of its own.
 */
export class SqliteAccountRepository implements AccountRepository {
  private readonly statements: ReturnType<typeof prepareStatements>;
  private readonly adjust: (change: Parameters<AccountRepository["adjustCredits"]>[0]) => { balance: number } | null;

  private readonly callers = new Map<string, { key: ApiKeyRecord; limits: AccountLimits }>();
  private callerCacheGeneration = -1;

  constructor(
    private readonly database: SqliteDatabase.Database,
    private readonly groupCommit: SqliteGroupCommit,
    private readonly externalWrites: ExternalWrites = new ExternalWrites(database),
  ) {
    this.statements = prepareStatements(database);
    // Run only inside the group commit's transaction, which makes its two statements one unit.
    this.adjust = (change) => {
      const row = this.statements.adjust.get({ amount: change.amount, accountId: change.accountId }) as
        | { credits: number }
        | undefined;
      if (row === undefined) return null;
      this.statements.insertLedger.run({
        accountId: change.accountId,
        kind: change.kind,
        amount: change.amount,
        balanceAfter: row.credits,
        reason: change.reason,
        actor: change.actor,
        now: change.now,
      });
      return { balance: row.credits };
    };
  }

  async createAccount(account: Account): Promise<void> {
    await this.groupCommit.submit(() =>
      this.statements.insertAccount.run({ id: account.id, name: account.name, createdAt: account.createdAt, credits: 0 }),
    );
  }

  async findAccountByName(name: string): Promise<Account | null> {
    const row = this.statements.accountByName.get(name) as AccountRow | undefined;
    return row === undefined ? null : toAccount(row);
  }

  async findAccountById(id: string): Promise<Account | null> {
    const row = this.statements.accountById.get(id) as AccountRow | undefined;
    return row === undefined ? null : toAccount(row);
  }

  async listAccounts(): Promise<Account[]> {
    return (this.statements.listAccounts.all() as AccountRow[]).map(toAccount);
  }

  async countAccounts(): Promise<number> {
    return (this.statements.countAccounts.get() as { count: number }).count;
  }

  async insertKey(key: ApiKeyRecord): Promise<void> {
    await this.groupCommit.submit(() => this.statements.insertKey.run(key));
  }

  async findKey(keyId: string): Promise<ApiKeyRecord | null> {
    const row = this.statements.keyById.get(keyId) as KeyRow | undefined;
    return row === undefined ? null : toKey(row);
  }

  /**
   * Every API request looks its key up here, so found keys are kept in memory. The cache is
   * dropped whenever this process changes keys or limits, and whenever another process (the CLI)
   * commits anything to the database: SQLite's data_version tells, at the cost of one pragma.
   * Unknown hashes are never cached, so guessed keys cannot fill memory.
   */
  async findCallerByKeyHash(hash: string): Promise<{ key: ApiKeyRecord; limits: AccountLimits } | null> {
    const generation = this.externalWrites.generation();
    if (generation !== this.callerCacheGeneration) {
      this.callers.clear();
      this.callerCacheGeneration = generation;
    }
    const cached = this.callers.get(hash);
    if (cached !== undefined) return cached;
    const row = this.statements.callerByHash.get(hash) as (KeyRow & AccountRow) | undefined;
    if (row === undefined) return null;
    const caller = { key: toKey(row), limits: limitsOf(row) };
    if (this.callers.size >= CALLER_CACHE_SIZE) this.callers.clear();
    this.callers.set(hash, caller);
    return caller;
  }

  async listKeys(accountId?: string): Promise<ApiKeyRecord[]> {
    const rows = accountId === undefined ? this.statements.listKeys.all() : this.statements.listKeysOfAccount.all(accountId);
    return (rows as KeyRow[]).map(toKey);
  }

  async revokeKey(keyId: string, now: number): Promise<boolean> {
    return this.groupCommit.submit(() => {
      const revoked = this.statements.revokeKey.run(now, keyId).changes > 0;
      // In the same turn as the write: a request between the two could cache the key as it was.
      this.callers.clear();
      return revoked;
    });
  }

  async recordKeyUse(uses: readonly KeyUse[]): Promise<void> {
    if (uses.length === 0) return;
    // Nothing a request reads changes (the cached callers need not be dropped), and a use a crash
    // loses is only a minute of "last used": no wait for the disk.
    await this.groupCommit.submit(() => {
      for (const use of uses) this.statements.recordKeyUse.run(use);
    }, "committed");
  }

  async adjustCredits(change: Parameters<AccountRepository["adjustCredits"]>[0]): Promise<{ balance: number } | null> {
    return this.groupCommit.submit(() => this.adjust(change));
  }

  async ledger(accountId: string, limit: number, beforeId = Number.MAX_SAFE_INTEGER): Promise<LedgerEntry[]> {
    return (this.statements.ledger.all(accountId, beforeId, limit) as LedgerRow[]).map(toLedgerEntry);
  }

  async ledgerSum(accountId: string): Promise<number> {
    return (this.statements.ledgerSum.get(accountId) as { total: number }).total;
  }

  async setLimits(accountId: string, limits: Partial<AccountLimits>): Promise<void> {
    const columns: Record<keyof AccountLimits, string> = {
      activeTasks: "active_task_limit",
      createTask: "rate_limit_create_task",
      other: "rate_limit_other",
    };
    const entries = (Object.keys(limits) as (keyof AccountLimits)[]).filter((name) => limits[name] !== undefined);
    if (entries.length === 0) return;
    const assignments = entries.map((name) => `${columns[name]} = @${name}`).join(", ");
    const update = this.database.prepare(`UPDATE accounts SET ${assignments} WHERE id = @accountId`);
    await this.groupCommit.submit(() => {
      update.run({ ...limits, accountId });
      // In the same turn as the write, as for a revoked key.
      this.callers.clear();
    });
  }

  async recordAudit(entry: AuditEntry): Promise<void> {
    await this.groupCommit.submit(() => this.statements.insertAudit.run({ ...entry, details: JSON.stringify(entry.details) }));
  }

  async listAudit(limit: number): Promise<AuditEntry[]> {
    const rows = this.statements.listAudit.all(limit) as (Omit<AuditEntry, "details"> & { details: string })[];
    return rows.map((row) => ({
      at: row.at,
      actor: row.actor,
      action: row.action,
      target: row.target,
      details: JSON.parse(row.details) as Record<string, unknown>,
    }));
  }

  async webhookSecret(accountId: string): Promise<string | null> {
    return this.readWebhookSecret(accountId);
  }

  async storeWebhookSecret(accountId: string, secret: string, replace: boolean): Promise<string> {
    return this.groupCommit.submit(() => {
      (replace ? this.statements.setWebhookSecret : this.statements.setWebhookSecretIfNone).run(secret, accountId);
      return this.readWebhookSecret(accountId) ?? secret;
    });
  }

  /** Synchronous, so that a write can read what it left within its own transaction. */
  private readWebhookSecret(accountId: string): string | null {
    const row = this.statements.webhookSecret.get(accountId) as { secret: string | null } | undefined;
    return row?.secret ?? null;
  }
}
