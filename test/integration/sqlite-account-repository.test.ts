import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SqliteAccountRepository } from "../../src/db/sqlite-account-repository.ts";
import type { SqliteGroupCommit } from "../../src/db/sqlite-group-commit.ts";
import type { ApiKeyRecord } from "../../src/domain/accounts/account.ts";
import { openHeldDatabase, type HeldDatabase, type HeldSync } from "../helpers/held-sync.ts";

const NOW = 1_800_000_000_000;
const KEY: ApiKeyRecord = { id: "key_1", accountId: "acct_1", mode: "live", hash: "ab".repeat(32), hint: "ig_live_abcd", createdAt: NOW, revokedAt: null, name: null, lastUsedAt: null };

let database: HeldDatabase;
let held: HeldSync;
let groupCommit: SqliteGroupCommit;
let accounts: SqliteAccountRepository;

beforeEach(async () => {
  database = await openHeldDatabase("imagegate-accounts-");
  ({ held, groupCommit } = database);
  accounts = new SqliteAccountRepository(database.handle.raw, groupCommit);
});

afterEach(async () => {
  await database.close();
});

/** Runs an account write to its end: its group commits, then its log flush is let through. */
async function written<T>(write: Promise<T>): Promise<T> {
  await new Promise((resolve) => setImmediate(resolve));
  held.finish();
  return write;
}

const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

describe("SqliteAccountRepository", () => {
  it("writes an administrator's changes in commits shared through the group commit, each answered once on disk", async () => {
    const commits = groupCommit.commits;
    const answered: string[] = [];
    const creating = accounts
      .createAccount({ id: "acct_1", name: "one", createdAt: NOW, credits: 0, limits: { activeTasks: null, createTask: null, other: null } })
      .then(() => answered.push("account"));
    const auditing = accounts
      .recordAudit({ at: NOW, actor: "cli", action: "account.create", target: "acct_1", details: {} })
      .then(() => answered.push("audit"));
    await turn();
    expect(groupCommit.commits).toBe(commits + 1);
    expect(held.calls).toBe(1);
    expect(answered).toEqual([]);
    held.finish();
    await Promise.all([creating, auditing]);
    expect(answered.sort()).toEqual(["account", "audit"]);

    expect(await written(accounts.adjustCredits({ accountId: "acct_1", amount: 50, kind: "grant", reason: "test", actor: "cli", now: NOW }))).toEqual({
      balance: 50,
    });
    expect(await written(accounts.adjustCredits({ accountId: "acct_1", amount: -80, kind: "deduct", reason: "test", actor: "cli", now: NOW }))).toBeNull();
    expect(await accounts.ledgerSum("acct_1")).toBe(50);
    expect(await written(accounts.storeWebhookSecret("acct_1", "whsec_first", false))).toBe("whsec_first");
    expect(await written(accounts.storeWebhookSecret("acct_1", "whsec_second", false))).toBe("whsec_first");
    expect(await written(accounts.storeWebhookSecret("acct_1", "whsec_second", true))).toBe("whsec_second");
  });

  it("forgets a revoked key's cached caller in the same turn as the write, whatever was looked up meanwhile", async () => {
    await written(accounts.createAccount({ id: "acct_1", name: "one", createdAt: NOW, credits: 0, limits: { activeTasks: null, createTask: null, other: null } }));
    await written(accounts.insertKey(KEY));
    const revoking = accounts.revokeKey(KEY.id, NOW + 1);
    // A request between the call and its commit finds the key as it still is, and caches it.
    expect((await accounts.findCallerByKeyHash(KEY.hash))?.key.revokedAt).toBeNull();
    expect(await written(revoking)).toBe(true);
    expect((await accounts.findCallerByKeyHash(KEY.hash))?.key.revokedAt).toBe(NOW + 1);
  });

  it("forgets cached limits in the same turn as their change", async () => {
    await written(accounts.createAccount({ id: "acct_1", name: "one", createdAt: NOW, credits: 0, limits: { activeTasks: null, createTask: null, other: null } }));
    await written(accounts.insertKey(KEY));
    const changing = accounts.setLimits("acct_1", { createTask: "5/1s" });
    expect((await accounts.findCallerByKeyHash(KEY.hash))?.limits.createTask).toBeNull();
    await written(changing);
    expect((await accounts.findCallerByKeyHash(KEY.hash))?.limits.createTask).toBe("5/1s");
  });
});
