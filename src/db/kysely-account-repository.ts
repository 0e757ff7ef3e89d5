import type { Kysely, Selectable } from "kysely";
import type { Account, AccountRepository, ApiKeyRecord } from "../domain/accounts/account.ts";
import type { AccountsTable, ApiKeysTable, Database } from "./schema.ts";

function toAccount(row: Selectable<AccountsTable>): Account {
  return { id: row.id, name: row.name, createdAt: Number(row.created_at) };
}

function toKey(row: Selectable<ApiKeysTable>): ApiKeyRecord {
  return {
    id: row.id,
    accountId: row.account_id,
    mode: row.mode,
    hash: row.hash,
    hint: row.hint,
    createdAt: Number(row.created_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  };
}

export class KyselyAccountRepository implements AccountRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async createAccount(account: Account): Promise<void> {
    await this.db
      .insertInto("accounts")
      .values({ id: account.id, name: account.name, created_at: account.createdAt })
      .execute();
  }

  async findAccountByName(name: string): Promise<Account | null> {
    const row = await this.db.selectFrom("accounts").selectAll().where("name", "=", name).executeTakeFirst();
    return row === undefined ? null : toAccount(row);
  }

  async findAccountById(id: string): Promise<Account | null> {
    const row = await this.db.selectFrom("accounts").selectAll().where("id", "=", id).executeTakeFirst();
    return row === undefined ? null : toAccount(row);
  }

  async listAccounts(): Promise<Account[]> {
    const rows = await this.db.selectFrom("accounts").selectAll().orderBy("id").execute();
    return rows.map(toAccount);
  }

  async countAccounts(): Promise<number> {
    const row = await this.db
      .selectFrom("accounts")
      .select((expression) => expression.fn.countAll<number>().as("count"))
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async insertKey(key: ApiKeyRecord): Promise<void> {
    await this.db
      .insertInto("api_keys")
      .values({
        id: key.id,
        account_id: key.accountId,
        mode: key.mode,
        hash: key.hash,
        hint: key.hint,
        created_at: key.createdAt,
        revoked_at: key.revokedAt,
      })
      .execute();
  }

  async findKeyByHash(hash: string): Promise<ApiKeyRecord | null> {
    const row = await this.db.selectFrom("api_keys").selectAll().where("hash", "=", hash).executeTakeFirst();
    return row === undefined ? null : toKey(row);
  }

  async listKeys(accountId?: string): Promise<ApiKeyRecord[]> {
    let query = this.db.selectFrom("api_keys").selectAll().orderBy("id");
    if (accountId !== undefined) query = query.where("account_id", "=", accountId);
    const rows = await query.execute();
    return rows.map(toKey);
  }

  async revokeKey(keyId: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable("api_keys")
      .set({ revoked_at: now })
      .where("id", "=", keyId)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
