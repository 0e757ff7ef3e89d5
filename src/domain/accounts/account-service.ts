import type { Clock } from "../clock.ts";
import { failure, success, type Result } from "../errors.ts";
import { newId } from "../ids.ts";
import type { Account, AccountRepository, ApiKeyRecord, Caller, KeyMode } from "./account.ts";
import { generateApiKey, hashApiKey, keyHint, looksLikeApiKey, sameHash } from "./api-keys.ts";

const ACCOUNT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface CreatedKey {
  record: ApiKeyRecord;
  /** The secret itself: shown once, never stored. */
  key: string;
}

export class AccountService {
  constructor(
    private readonly accounts: AccountRepository,
    private readonly clock: Clock,
  ) {}

  async createAccount(name: string): Promise<Result<Account>> {
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
    const account: Account = { id: newId("acct", now), name, createdAt: now };
    await this.accounts.createAccount(account);
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

  listAccounts(): Promise<Account[]> {
    return this.accounts.listAccounts();
  }

  async isEmpty(): Promise<boolean> {
    return (await this.accounts.countAccounts()) === 0;
  }

  async createKey(accountNameOrId: string, mode: KeyMode): Promise<Result<CreatedKey>> {
    const account = await this.findAccount(accountNameOrId);
    if (account === null) return failure("NOT_FOUND", `no account named ${accountNameOrId}`);
    const key = generateApiKey(mode);
    const now = this.clock.now();
    const record: ApiKeyRecord = {
      id: newId("key", now),
      accountId: account.id,
      mode,
      hash: hashApiKey(key),
      hint: keyHint(key),
      createdAt: now,
      revokedAt: null,
    };
    await this.accounts.insertKey(record);
    return success({ record, key });
  }

  listKeys(accountId?: string): Promise<ApiKeyRecord[]> {
    return this.accounts.listKeys(accountId);
  }

  async revokeKey(keyId: string): Promise<Result<true>> {
    const revoked = await this.accounts.revokeKey(keyId, this.clock.now());
    return revoked ? success(true) : failure("NOT_FOUND", `no active key with id ${keyId}`);
  }

  /** The caller behind a bearer token, or null for a missing, malformed, unknown or revoked key. */
  async authenticate(token: string): Promise<Caller | null> {
    if (!looksLikeApiKey(token)) return null;
    const hash = hashApiKey(token);
    const record = await this.accounts.findKeyByHash(hash);
    if (record === null || record.revokedAt !== null || !sameHash(record.hash, hash)) return null;
    return { accountId: record.accountId, keyId: record.id, mode: record.mode };
  }
}
