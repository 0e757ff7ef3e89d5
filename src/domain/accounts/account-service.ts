import { generateWebhookSecret } from "../callbacks/signing.ts";
import type { Clock } from "../clock.ts";
import { failure, success, type Result } from "../errors.ts";
import { newId } from "../ids.ts";
import { parseRatePolicy } from "../limits/rate-policy.ts";
import type {
  Account,
  AccountLimits,
  AccountRepository,
  ApiKeyRecord,
  AuditEntry,
  Caller,
  KeyMode,
  LedgerEntry,
} from "./account.ts";
import { digestApiKey, generateApiKey, hashApiKey, keyHint, looksLikeApiKey, sameDigest } from "./api-keys.ts";

const ACCOUNT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_CREDIT_CHANGE = 1_000_000_000;

export interface CreatedKey {
  record: ApiKeyRecord;
  /** The secret itself: shown once, never stored. */
  key: string;
}

/** Who asks for an administrative change; written to the audit trail with it. */
export type Actor = "cli" | "admin-api" | "system";

/**
 * Accounts, their keys, credits and limits. Every change made here by an operator is written to
 * the audit trail.
 */
export class AccountService {
  constructor(
    private readonly accounts: AccountRepository,
    private readonly clock: Clock,
  ) {}

  async createAccount(name: string, actor: Actor = "system"): Promise<Result<Account>> {
    if (!ACCOUNT_NAME.test(name)) {
      return failure(
        "VALIDATION_FAILED",
        "name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
      );
    }
    if ((await this.accounts.findAccountByName(name)) !== null) {
      return failure("CONFLICT", `an account named ${name} already exists`);
    }
    const now = this.clock.now();
    const account: Account = {
      id: newId("acct", now),
      name,
      createdAt: now,
      credits: 0,
      limits: { activeTasks: null, createTask: null, other: null },
    };
    await this.accounts.createAccount(account);
    await this.audit(actor, "account.create", account.id, { name });
    return success(account);
  }

  /** Finds an account by name or by id. */
  async findAccount(nameOrId: string): Promise<Account | null> {
    if (nameOrId.startsWith("acct_")) {
      const byId = await this.accounts.findAccountById(nameOrId);
      if (byId !== null) return byId;
    }
    return this.accounts.findAccountByName(nameOrId);
  }

  async requireAccount(nameOrId: string): Promise<Result<Account>> {
    const account = await this.findAccount(nameOrId);
    return account === null ? failure("NOT_FOUND", `no account named ${nameOrId}`) : success(account);
  }

  listAccounts(): Promise<Account[]> {
    return this.accounts.listAccounts();
  }

  async isEmpty(): Promise<boolean> {
    return (await this.accounts.countAccounts()) === 0;
  }

  async createKey(accountNameOrId: string, mode: KeyMode, actor: Actor = "system"): Promise<Result<CreatedKey>> {
    const account = await this.requireAccount(accountNameOrId);
    if (!account.ok) return account;
    const key = generateApiKey(mode);
    const now = this.clock.now();
    const record: ApiKeyRecord = {
      id: newId("key", now),
      accountId: account.value.id,
      mode,
      hash: hashApiKey(key),
      hint: keyHint(key),
      createdAt: now,
      revokedAt: null,
    };
    await this.accounts.insertKey(record);
    await this.audit(actor, "key.create", record.id, { account: account.value.id, mode });
    return success({ record, key });
  }

  listKeys(accountId?: string): Promise<ApiKeyRecord[]> {
    return this.accounts.listKeys(accountId);
  }

  /** A key's record, revoked or not; null when no key has this id. */
  findKey(keyId: string): Promise<ApiKeyRecord | null> {
    return this.accounts.findKey(keyId);
  }

  async revokeKey(keyId: string, actor: Actor = "system"): Promise<Result<true>> {
    const revoked = await this.accounts.revokeKey(keyId, this.clock.now());
    if (!revoked) return failure("NOT_FOUND", `no active key with id ${keyId}`);
    await this.audit(actor, "key.revoke", keyId, {});
    return success(true);
  }

  /** A new key for the same account and mode; the old one is revoked. */
  async rotateKey(keyId: string, actor: Actor = "system"): Promise<Result<CreatedKey>> {
    const old = await this.accounts.findKey(keyId);
    if (old === null || old.revokedAt !== null) return failure("NOT_FOUND", `no active key with id ${keyId}`);
    const created = await this.createKey(old.accountId, old.mode, actor);
    if (!created.ok) return created;
    await this.accounts.revokeKey(keyId, this.clock.now());
    await this.audit(actor, "key.rotate", keyId, { replacement: created.value.record.id });
    return created;
  }

  /** The caller behind a bearer token, or null for a missing, malformed, unknown or revoked key. */
  async authenticate(token: string): Promise<Caller | null> {
    if (!looksLikeApiKey(token)) return null;
    // Found by the digest's hex, then compared in constant time all the same: whatever the lookup
    // does, the last word on a secret is a comparison whose time says nothing.
    const digest = digestApiKey(token);
    const found = await this.accounts.findCallerByKeyHash(digest.toString("hex"));
    if (found === null || !sameDigest(found.key.hash, digest)) return null;
    return activeCaller(found);
  }

  /**
   * A caller that proved its key earlier, as it stands now: found again by the key's digest, with
   * no secret to hash or compare; null once the key is revoked, and the account's limits of now.
   */
  async recheck(caller: Caller): Promise<Caller | null> {
    const found = await this.accounts.findCallerByKeyHash(caller.keyHash);
    return found === null ? null : activeCaller(found);
  }

  async balance(accountId: string): Promise<number> {
    const account = await this.accounts.findAccountById(accountId);
    return account?.credits ?? 0;
  }

  async grantCredits(accountNameOrId: string, amount: number, reason: string, actor: Actor): Promise<Result<number>> {
    return this.changeCredits(accountNameOrId, amount, reason, actor, "grant");
  }

  async deductCredits(accountNameOrId: string, amount: number, reason: string, actor: Actor): Promise<Result<number>> {
    return this.changeCredits(accountNameOrId, amount, reason, actor, "deduct");
  }

  async ledger(accountNameOrId: string, limit = 100): Promise<Result<LedgerEntry[]>> {
    const account = await this.requireAccount(accountNameOrId);
    if (!account.ok) return account;
    return success(await this.accounts.ledger(account.value.id, limit));
  }

  /** The sum of the account's ledger: equals its balance unless something is badly wrong. */
  ledgerSum(accountId: string): Promise<number> {
    return this.accounts.ledgerSum(accountId);
  }

  async setLimits(accountNameOrId: string, limits: Partial<AccountLimits>, actor: Actor): Promise<Result<Account>> {
    const account = await this.requireAccount(accountNameOrId);
    if (!account.ok) return account;
    if (limits.activeTasks !== undefined && limits.activeTasks !== null) {
      if (!Number.isInteger(limits.activeTasks) || limits.activeTasks < 1 || limits.activeTasks > 1_000_000) {
        return failure("VALIDATION_FAILED", "activeTasks must be a whole number from 1 to 1000000");
      }
    }
    for (const name of ["createTask", "other"] as const) {
      const value = limits[name];
      if (value !== undefined && value !== null && parseRatePolicy(value) === null) {
        return failure("VALIDATION_FAILED", `${name} must be a rate such as 20/10s (a count per window in s, m or h)`);
      }
    }
    await this.accounts.setLimits(account.value.id, limits);
    await this.audit(actor, "limits.set", account.value.id, { ...limits });
    return this.requireAccount(account.value.id);
  }

  /** The account's webhook secret, made on first use; `rotate` replaces it. */
  async webhookSecret(accountNameOrId: string, options: { rotate?: boolean; actor?: Actor } = {}): Promise<Result<string>> {
    const account = await this.requireAccount(accountNameOrId);
    if (!account.ok) return account;
    return success(await this.webhookSecretOf(account.value.id, options));
  }

  /** As webhookSecret, by account id, for the callback sender. */
  async webhookSecretOf(accountId: string, options: { rotate?: boolean; actor?: Actor } = {}): Promise<string> {
    const rotate = options.rotate === true;
    if (!rotate) {
      const existing = await this.accounts.webhookSecret(accountId);
      if (existing !== null) return existing;
    }
    const secret = await this.accounts.storeWebhookSecret(accountId, generateWebhookSecret(), rotate);
    if (rotate) await this.audit(options.actor ?? "system", "webhook-secret.rotate", accountId, {});
    return secret;
  }

  listAudit(limit = 100): Promise<AuditEntry[]> {
    return this.accounts.listAudit(limit);
  }

  private async changeCredits(
    accountNameOrId: string,
    amount: number,
    reason: string,
    actor: Actor,
    kind: "grant" | "deduct",
  ): Promise<Result<number>> {
    if (!Number.isInteger(amount) || amount < 1 || amount > MAX_CREDIT_CHANGE) {
      return failure("VALIDATION_FAILED", `amount must be a whole number from 1 to ${MAX_CREDIT_CHANGE}`);
    }
    if (reason.trim() === "") return failure("VALIDATION_FAILED", "reason must not be empty");
    const account = await this.requireAccount(accountNameOrId);
    if (!account.ok) return account;
    const changed = await this.accounts.adjustCredits({
      accountId: account.value.id,
      amount: kind === "grant" ? amount : -amount,
      kind,
      reason,
      actor,
      now: this.clock.now(),
    });
    if (changed === null) {
      return failure("CONFLICT", `cannot deduct ${amount}: ${account.value.name} has only ${account.value.credits} credits`);
    }
    await this.audit(actor, `credits.${kind}`, account.value.id, { amount, reason, balance: changed.balance });
    return success(changed.balance);
  }

  /** Writes an operator's change to the audit trail; the system's own changes are not audited. */
  async audit(actor: Actor, action: string, target: string, details: Record<string, unknown>): Promise<void> {
    if (actor === "system") return;
    await this.accounts.recordAudit({ at: this.clock.now(), actor, action, target, details });
  }
}

/** The caller a found key stands for; null once the key is revoked. */
function activeCaller(found: { key: ApiKeyRecord; limits: AccountLimits }): Caller | null {
  if (found.key.revokedAt !== null) return null;
  return { accountId: found.key.accountId, keyId: found.key.id, keyHash: found.key.hash, mode: found.key.mode, limits: found.limits };
}
