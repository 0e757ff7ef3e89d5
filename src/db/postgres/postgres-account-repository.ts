import type { Account, AccountLimits, AccountRepository, ApiKeyRecord, AuditEntry, KeyUse, LedgerEntry } from "../../domain/accounts/account.ts";
import { limitsOf, toAccount, toKey, toLedgerEntry, type AccountRow, type KeyRow, type LedgerRow } from "../account-rows.ts";
import { Batcher, READ_BATCHES, type ItemOutcome } from "../../concurrency/batcher.ts";
import type { NamedStatement, PostgresDatabase } from "./connection.ts";

const statement = (name: string, text: string): NamedStatement => ({ name: `account_${name}`, text });

const STATEMENTS = {
  insertAccount: statement("insert", "INSERT INTO accounts (id, name, created_at, credits) VALUES ($1, $2, $3, 0)"),
  accountByName: statement("by_name", "SELECT * FROM accounts WHERE name = $1"),
  accountById: statement("by_id", "SELECT * FROM accounts WHERE id = $1"),
  listAccounts: statement("list", "SELECT * FROM accounts ORDER BY id"),
  countAccounts: statement("count", "SELECT count(*) AS count FROM accounts"),
  insertKey: statement(
    "insert_key",
    `INSERT INTO api_keys (id, account_id, mode, hash, hint, created_at, revoked_at, name, last_used_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
  ),
  keyById: statement("key_by_id", "SELECT * FROM api_keys WHERE id = $1"),
  // The keys of the requests of one batch (see findCallerByKeyHash).
  callersByHash: statement(
    "callers_by_hash",
    `SELECT k.*, a.active_task_limit, a.rate_limit_create_task, a.rate_limit_other
     FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.hash = ANY($1::text[])`,
  ),
  listKeys: statement("list_keys", "SELECT * FROM api_keys ORDER BY id"),
  listKeysOfAccount: statement("list_keys_of", "SELECT * FROM api_keys WHERE account_id = $1 ORDER BY id"),
  revokeKey: statement("revoke_key", "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"),
  /** Every use of a batch in one statement: the ids and times as two arrays. */
  recordKeyUse: statement(
    "record_key_use",
    `UPDATE api_keys SET last_used_at = used.at
     FROM unnest($1::text[], $2::bigint[]) AS used (id, at)
     WHERE api_keys.id = used.id AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < used.at)`,
  ),
  /** The guarded change and its ledger line in one statement, so in one transaction. */
  adjust: statement(
    "adjust",
    `WITH adjusted AS (
       UPDATE accounts SET credits = credits + $2 WHERE id = $1 AND credits + $2 >= 0 RETURNING credits
     ), recorded AS (
       INSERT INTO credit_ledger (account_id, task_id, kind, amount, balance_after, reason, actor, created_at)
       SELECT $1, NULL, $3, $2, credits, $4, $5, $6 FROM adjusted
     )
     SELECT credits FROM adjusted`,
  ),
  ledger: statement("ledger", "SELECT * FROM credit_ledger WHERE account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"),
  ledgerSum: statement("ledger_sum", "SELECT coalesce(sum(amount), 0) AS total FROM credit_ledger WHERE account_id = $1"),
  insertAudit: statement("insert_audit", "INSERT INTO audit_log (at, actor, action, target, details) VALUES ($1, $2, $3, $4, $5)"),
  listAudit: statement("list_audit", "SELECT at, actor, action, target, details FROM audit_log ORDER BY id DESC LIMIT $1"),
  webhookSecret: statement("webhook_secret", "SELECT webhook_secret AS secret FROM accounts WHERE id = $1"),
  /** Answers the secret in force after it, in the same statement: the stored one when it kept it. */
  storeWebhookSecret: statement(
    "store_webhook_secret",
    `UPDATE accounts SET webhook_secret = CASE WHEN $3 OR webhook_secret IS NULL THEN $1 ELSE webhook_secret END
     WHERE id = $2 RETURNING webhook_secret AS secret`,
  ),
};

const LIMIT_COLUMNS: Record<keyof AccountLimits, string> = {
  activeTasks: "active_task_limit",
  createTask: "rate_limit_create_task",
  other: "rate_limit_other",
};

/**
 * Accounts, keys, credits and the audit trail on PostgreSQL. Nothing is cached in the process:
 * a key revoked or a limit changed on any process applies on every process at its next request,
 * for the price of one read by primary key per request.
 */
export class PostgresAccountRepository implements AccountRepository {
  private readonly callers = new Batcher<string, (KeyRow & AccountRow) | null>((hashes) => this.findCallers(hashes), READ_BATCHES);

  constructor(private readonly database: PostgresDatabase) {}

  async createAccount(account: Account): Promise<void> {
    await this.database.query(STATEMENTS.insertAccount, [account.id, account.name, account.createdAt]);
  }

  async findAccountByName(name: string): Promise<Account | null> {
    const { rows } = await this.database.query<AccountRow>(STATEMENTS.accountByName, [name]);
    return rows[0] === undefined ? null : toAccount(rows[0]);
  }

  async findAccountById(id: string): Promise<Account | null> {
    const { rows } = await this.database.query<AccountRow>(STATEMENTS.accountById, [id]);
    return rows[0] === undefined ? null : toAccount(rows[0]);
  }

  async listAccounts(): Promise<Account[]> {
    const { rows } = await this.database.query<AccountRow>(STATEMENTS.listAccounts);
    return rows.map(toAccount);
  }

  async countAccounts(): Promise<number> {
    const { rows } = await this.database.query<{ count: number }>(STATEMENTS.countAccounts);
    return rows[0]?.count ?? 0;
  }

  async insertKey(key: ApiKeyRecord): Promise<void> {
    await this.database.query(STATEMENTS.insertKey, [
      key.id,
      key.accountId,
      key.mode,
      key.hash,
      key.hint,
      key.createdAt,
      key.revokedAt,
      key.name,
      key.lastUsedAt,
    ]);
  }

  async findKey(keyId: string): Promise<ApiKeyRecord | null> {
    const { rows } = await this.database.query<KeyRow>(STATEMENTS.keyById, [keyId]);
    return rows[0] === undefined ? null : toKey(rows[0]);
  }

  /**
   * Every request reads its key afresh, so the reads of the requests arriving together are made in
   * one statement (see READ_BATCHES): one round trip for all of them instead of one each.
   */
  async findCallerByKeyHash(hash: string): Promise<{ key: ApiKeyRecord; limits: AccountLimits } | null> {
    const row = await this.callers.submit(hash);
    return row === null ? null : { key: toKey(row), limits: limitsOf(row) };
  }

  private async findCallers(hashes: string[]): Promise<ItemOutcome<(KeyRow & AccountRow) | null>[]> {
    const { rows } = await this.database.query<KeyRow & AccountRow>(STATEMENTS.callersByHash, [[...new Set(hashes)]]);
    const byHash = new Map(rows.map((row) => [row.hash, row]));
    return hashes.map((hash) => ({ ok: true, value: byHash.get(hash) ?? null }));
  }

  async listKeys(accountId?: string): Promise<ApiKeyRecord[]> {
    const { rows } =
      accountId === undefined
        ? await this.database.query<KeyRow>(STATEMENTS.listKeys)
        : await this.database.query<KeyRow>(STATEMENTS.listKeysOfAccount, [accountId]);
    return rows.map(toKey);
  }

  async revokeKey(keyId: string, now: number): Promise<boolean> {
    const { rowCount } = await this.database.query(STATEMENTS.revokeKey, [now, keyId]);
    return rowCount === 1;
  }

  async recordKeyUse(uses: readonly KeyUse[]): Promise<void> {
    if (uses.length === 0) return;
    await this.database.query(STATEMENTS.recordKeyUse, [uses.map((use) => use.keyId), uses.map((use) => use.at)]);
  }

  async adjustCredits(change: Parameters<AccountRepository["adjustCredits"]>[0]): Promise<{ balance: number } | null> {
    const { rows } = await this.database.query<{ credits: number }>(STATEMENTS.adjust, [
      change.accountId,
      change.amount,
      change.kind,
      change.reason,
      change.actor,
      change.now,
    ]);
    return rows[0] === undefined ? null : { balance: rows[0].credits };
  }

  async ledger(accountId: string, limit: number, beforeId = Number.MAX_SAFE_INTEGER): Promise<LedgerEntry[]> {
    const { rows } = await this.database.query<LedgerRow>(STATEMENTS.ledger, [accountId, beforeId, limit]);
    return rows.map(toLedgerEntry);
  }

  async ledgerSum(accountId: string): Promise<number> {
    const { rows } = await this.database.query<{ total: number }>(STATEMENTS.ledgerSum, [accountId]);
    return rows[0]?.total ?? 0;
  }

  async setLimits(accountId: string, limits: Partial<AccountLimits>): Promise<void> {
    const names = (Object.keys(limits) as (keyof AccountLimits)[]).filter((name) => limits[name] !== undefined);
    if (names.length === 0) return;
    const assignments = names.map((name, index) => `${LIMIT_COLUMNS[name]} = $${index + 2}`).join(", ");
    await this.database.query(`UPDATE accounts SET ${assignments} WHERE id = $1`, [accountId, ...names.map((name) => limits[name])]);
  }

  async recordAudit(entry: AuditEntry): Promise<void> {
    await this.database.query(STATEMENTS.insertAudit, [entry.at, entry.actor, entry.action, entry.target, JSON.stringify(entry.details)]);
  }

  async listAudit(limit: number): Promise<AuditEntry[]> {
    const { rows } = await this.database.query<Omit<AuditEntry, "details"> & { details: string }>(STATEMENTS.listAudit, [limit]);
    return rows.map((row) => ({ ...row, details: JSON.parse(row.details) as Record<string, unknown> }));
  }

  async webhookSecret(accountId: string): Promise<string | null> {
    const { rows } = await this.database.query<{ secret: string | null }>(STATEMENTS.webhookSecret, [accountId]);
    return rows[0]?.secret ?? null;
  }

  async storeWebhookSecret(accountId: string, secret: string, replace: boolean): Promise<string> {
    const { rows } = await this.database.query<{ secret: string | null }>(STATEMENTS.storeWebhookSecret, [secret, accountId, replace]);
    return rows[0]?.secret ?? secret;
  }
}
