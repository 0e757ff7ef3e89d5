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
/** A key's name: 1 to 64 characters, no control characters, not only spaces. */
const KEY_NAME = /^(?=.*\S)[^\p{Cc}]{1,64}$/u;
const MAX_CREDIT_CHANGE = 1_000_000_000;
/**
 * Active keys an account may make for itself: enough for every server and developer, and a bound
 * on what a leaked key can make. Counted before the insert, so requests racing each other may
 * pass it by a few. The operator (CLI, admin API) is not bound by it.
 */
export const MAX_OWN_ACTIVE_KEYS = 100;

export interface CreatedKey {
  record: ApiKeyRecord;
  /** The secret itself: shown once, never stored. */
  key: string;
}

/**
 * Who asks for an administrative change; written to the audit trail with it: the operator
 * ("cli", "admin-api"), or an account's own key (its id) changing its own account.
 */
export type Actor = "cli" | "admin-api" | "system" | `key_${string}`;

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

  async createKey(
    accountNameOrId: string,
    mode: KeyMode,
    actor: Actor = "system",
    options: { name?: string | null } = {},
  ): Promise<Result<CreatedKey>> {
    const name = options.name ?? null;
    if (name !== null && !KEY_NAME.test(name)) {
      return failure("VALIDATION_FAILED", "name must be 1 to 64 characters, not only spaces, without control characters");
    }
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
      name,
      lastUsedAt: null,
    };
    await this.accounts.insertKey(record);
    await this.audit(actor, "key.create", record.id, { account: account.value.id, mode, ...(name === null ? {} : { name }) });
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

  /** A new key for the same account, mode and name; the old one is revoked. */
  async rotateKey(keyId: string, actor: Actor = "system"): Promise<Result<CreatedKey>> {
    const old = await this.accounts.findKey(keyId);
    if (old === null || old.revokedAt !== null) return failure("NOT_FOUND", `no active key with id ${keyId}`);
    const created = await this.createKey(old.accountId, old.mode, actor, { name: old.name });
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

  /** The keys of the caller's own account, revoked ones included, newest first. */
  async listOwnKeys(caller: Caller): Promise<ApiKeyRecord[]> {
    return (await this.accounts.listKeys(caller.accountId)).reverse();
  }

  /**
   * A key for the caller's own account, made by a live key alone (see ownAccountChange), at most
   * MAX_OWN_ACTIVE_KEYS active at once; audited with the caller's key as the actor.
   */
  async createOwnKey(caller: Caller, mode: KeyMode, name: string | null): Promise<Result<CreatedKey>> {
    const allowed = ownAccountChange(caller, "make keys");
    if (!allowed.ok) return allowed;
    const active = (await this.accounts.listKeys(caller.accountId)).filter((key) => key.revokedAt === null);
    if (active.length >= MAX_OWN_ACTIVE_KEYS) {
      return failure("CONFLICT", `The account already has ${MAX_OWN_ACTIVE_KEYS} active keys: revoke one before making another.`);
    }
    return this.createKey(caller.accountId, mode, keyActor(caller), { name });
  }

  /**
   * Revokes a key of the caller's own account, the calling key itself included (it fails from
   * the next request on). Answers the key as revoked; one revoked already is answered as it is.
   * Another account's key is as unknown as a missing one.
   */
  async revokeOwnKey(caller: Caller, keyId: string): Promise<Result<ApiKeyRecord>> {
    const allowed = ownAccountChange(caller, "revoke keys");
    if (!allowed.ok) return allowed;
    const unknown = failure("NOT_FOUND", `no key with id ${keyId}`);
    const before = await this.accounts.findKey(keyId);
    if (before === null || before.accountId !== caller.accountId) return unknown;
    if (before.revokedAt === null) await this.revokeKey(keyId, keyActor(caller));
    const after = await this.accounts.findKey(keyId);
    return after === null ? unknown : success(after);
  }

  /** The caller's own account's webhook secret, shown or rotated by a live key alone. */
  async ownWebhookSecret(caller: Caller, rotate: boolean): Promise<Result<string>> {
    const allowed = ownAccountChange(caller, rotate ? "rotate the webhook secret" : "read the webhook secret");
    if (!allowed.ok) return allowed;
    return success(await this.webhookSecretOf(caller.accountId, { rotate, actor: keyActor(caller) }));
  }

  /** The caller's own ledger, newest first, only entries older than `beforeId` when given. */
  ownLedger(caller: Caller, limit: number, beforeId?: number): Promise<LedgerEntry[]> {
    return this.accounts.ledger(caller.accountId, limit, beforeId);
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

/**
 * Whether the caller's key may change its own account's keys and webhook secret: a live key may.
 * A test key may not: test keys are handed to CI and staging, where they leak more easily, and
 * one that could make or revoke keys, or read the secret that signs live callbacks, would be a
 * live key in all but name.
 */
function ownAccountChange(caller: Caller, what: string): Result<true> {
  if (caller.mode === "live") return success(true);
  return failure("FORBIDDEN", `A test-mode key cannot ${what}: use a live key (ig_live_...).`);
}

/** The actor of a change a key makes to its own account: the key's id (every key id is key_...). */
export function keyActor(caller: Caller): Actor {
  return caller.keyId as `key_${string}`;
}

/** The caller a found key stands for; null once the key is revoked. */
function activeCaller(found: { key: ApiKeyRecord; limits: AccountLimits }): Caller | null {
  if (found.key.revokedAt !== null) return null;
  return { accountId: found.key.accountId, keyId: found.key.id, keyHash: found.key.hash, mode: found.key.mode, limits: found.limits };
}
