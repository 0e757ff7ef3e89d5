export type KeyMode = "live" | "test";

export interface Account {
  id: string;
  name: string;
  createdAt: number;
}

export interface ApiKeyRecord {
  id: string;
  accountId: string;
  mode: KeyMode;
  hash: string;
  hint: string;
  createdAt: number;
  revokedAt: number | null;
}

/** Who is calling, once a key has been verified. */
export interface Caller {
  accountId: string;
  keyId: string;
  mode: KeyMode;
}

export interface AccountRepository {
  createAccount(account: Account): Promise<void>;
  findAccountByName(name: string): Promise<Account | null>;
  findAccountById(id: string): Promise<Account | null>;
  listAccounts(): Promise<Account[]>;
  countAccounts(): Promise<number>;
  insertKey(key: ApiKeyRecord): Promise<void>;
  findKeyByHash(hash: string): Promise<ApiKeyRecord | null>;
  listKeys(accountId?: string): Promise<ApiKeyRecord[]>;
  /** Marks the key revoked; false when no such (unrevoked) key exists. */
  revokeKey(keyId: string, now: number): Promise<boolean>;
}
