import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NO_OVERRIDES, type Account, type ApiKeyRecord } from "../../src/domain/accounts/account.ts";
import type { OpenStorage, StorageFixture } from "../helpers/stores.ts";

const NOW = 1_800_000_000_000;

const accountNamed = (id: string, name = id): Account => ({ id, name, createdAt: NOW, credits: 0, limits: NO_OVERRIDES });

const keyOf = (id: string, accountId: string, changes: Partial<ApiKeyRecord> = {}): ApiKeyRecord => ({
  id,
  accountId,
  mode: "live",
  hash: `${id}`.padEnd(64, "0"),
  hint: "ig_live_abcd…",
  createdAt: NOW,
  revokedAt: null,
  name: null,
  lastUsedAt: null,
  ...changes,
});

const grant = (accountId: string, amount: number, kind: "grant" | "deduct" = "grant") => ({
  accountId,
  amount,
  kind,
  reason: "test",
  actor: "cli",
  now: NOW,
});

/** The whole behaviour of an AccountRepository and its ledger, run against the adapter `open` builds. */
export function accountRepositoryContract(name: string, open: OpenStorage): void {
  describe(`${name}: AccountRepository`, () => {
    let store: StorageFixture;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    describe("accounts", () => {
      it("are found by name and by id, listed by id and counted; a name is taken once", async () => {
        await store.accounts.createAccount(accountNamed("acct_b", "bravo"));
        await store.accounts.createAccount(accountNamed("acct_a", "alpha"));
        expect(await store.accounts.findAccountByName("bravo")).toEqual(accountNamed("acct_b", "bravo"));
        expect(await store.accounts.findAccountById("acct_a")).toEqual(accountNamed("acct_a", "alpha"));
        expect(await store.accounts.findAccountById("acct_none")).toBeNull();
        expect(await store.accounts.findAccountByName("none")).toBeNull();
        expect((await store.accounts.listAccounts()).map((account) => account.id)).toEqual(["acct_a", "acct_b"]);
        expect(await store.accounts.countAccounts()).toBe(2);
        await expect(store.accounts.createAccount(accountNamed("acct_c", "alpha"))).rejects.toThrow();
        expect(await store.accounts.countAccounts()).toBe(2);
      });

      it("keep limits set in part, and a change made by another process applies at its next read", async () => {
        const other = await store.another();
        await store.accounts.createAccount(accountNamed("acct_a"));
        await store.accounts.insertKey(keyOf("key_a", "acct_a"));
        expect((await store.accounts.findCallerByKeyHash(keyOf("key_a", "acct_a").hash))?.limits).toEqual(NO_OVERRIDES);
        await other.accounts.setLimits("acct_a", { activeTasks: 3, createTask: "5/1s" });
        await other.accounts.setLimits("acct_a", { other: "9/1m" });
        const limits = { activeTasks: 3, createTask: "5/1s", other: "9/1m" };
        expect((await store.accounts.findCallerByKeyHash(keyOf("key_a", "acct_a").hash))?.limits).toEqual(limits);
        expect((await store.accounts.findAccountById("acct_a"))?.limits).toEqual(limits);
        await store.accounts.setLimits("acct_a", {});
        expect((await store.accounts.findAccountById("acct_a"))?.limits).toEqual(limits);
      });

      it("record the audit trail, newest first", async () => {
        await store.accounts.recordAudit({ at: NOW, actor: "cli", action: "account.create", target: "acct_a", details: { name: "alpha" } });
        await store.accounts.recordAudit({ at: NOW + 1, actor: "admin-api", action: "credits.grant", target: "acct_a", details: { amount: 5 } });
        expect(await store.accounts.listAudit(10)).toEqual([
          { at: NOW + 1, actor: "admin-api", action: "credits.grant", target: "acct_a", details: { amount: 5 } },
          { at: NOW, actor: "cli", action: "account.create", target: "acct_a", details: { name: "alpha" } },
        ]);
        expect(await store.accounts.listAudit(1)).toHaveLength(1);
      });

      it("keep a webhook secret unless told to replace it", async () => {
        await store.accounts.createAccount(accountNamed("acct_a"));
        expect(await store.accounts.webhookSecret("acct_a")).toBeNull();
        expect(await store.accounts.storeWebhookSecret("acct_a", "whsec_first", false)).toBe("whsec_first");
        expect(await store.accounts.storeWebhookSecret("acct_a", "whsec_second", false)).toBe("whsec_first");
        expect(await store.accounts.storeWebhookSecret("acct_a", "whsec_second", true)).toBe("whsec_second");
        expect(await store.accounts.webhookSecret("acct_a")).toBe("whsec_second");
      });
    });

    describe("keys", () => {
      it("are found by id and by hash with their account's limits, and listed by id", async () => {
        await store.accounts.createAccount(accountNamed("acct_a"));
        await store.accounts.createAccount(accountNamed("acct_b"));
        await store.accounts.insertKey(keyOf("key_2", "acct_b", { mode: "test" }));
        await store.accounts.insertKey(keyOf("key_1", "acct_a"));
        await store.accounts.setLimits("acct_a", { createTask: "1/1s" });
        expect(await store.accounts.findKey("key_2")).toEqual(keyOf("key_2", "acct_b", { mode: "test" }));
        expect(await store.accounts.findKey("key_none")).toBeNull();
        expect(await store.accounts.findCallerByKeyHash(keyOf("key_1", "acct_a").hash)).toEqual({
          key: keyOf("key_1", "acct_a"),
          limits: { ...NO_OVERRIDES, createTask: "1/1s" },
        });
        expect(await store.accounts.findCallerByKeyHash("f".repeat(64))).toBeNull();
        expect((await store.accounts.listKeys()).map((key) => key.id)).toEqual(["key_1", "key_2"]);
        expect((await store.accounts.listKeys("acct_b")).map((key) => key.id)).toEqual(["key_2"]);
      });

      it("looked up at once by hash answer each lookup its own key, and null for an unknown hash", async () => {
        await store.accounts.createAccount(accountNamed("acct_a"));
        await store.accounts.createAccount(accountNamed("acct_b"));
        await store.accounts.insertKey(keyOf("key_1", "acct_a"));
        await store.accounts.insertKey(keyOf("key_2", "acct_b", { mode: "test" }));
        await store.accounts.setLimits("acct_b", { activeTasks: 2 });
        const found = await Promise.all(
          [keyOf("key_2", "acct_b").hash, "f".repeat(64), keyOf("key_1", "acct_a").hash, keyOf("key_2", "acct_b").hash].map((hash) =>
            store.accounts.findCallerByKeyHash(hash),
          ),
        );
        const second = { key: keyOf("key_2", "acct_b", { mode: "test" }), limits: { ...NO_OVERRIDES, activeTasks: 2 } };
        expect(found).toEqual([second, null, { key: keyOf("key_1", "acct_a"), limits: NO_OVERRIDES }, second]);
      });

      it("are revoked once, and a revocation by another process applies at the next lookup", async () => {
        const other = await store.another();
        await store.accounts.createAccount(accountNamed("acct_a"));
        await store.accounts.insertKey(keyOf("key_1", "acct_a"));
        const hash = keyOf("key_1", "acct_a").hash;
        expect((await store.accounts.findCallerByKeyHash(hash))?.key.revokedAt).toBeNull();
        expect(await other.accounts.revokeKey("key_1", NOW + 5)).toBe(true);
        expect(await other.accounts.revokeKey("key_1", NOW + 6)).toBe(false);
        expect(await store.accounts.revokeKey("key_none", NOW + 6)).toBe(false);
        expect((await store.accounts.findCallerByKeyHash(hash))?.key.revokedAt).toBe(NOW + 5);
        expect((await store.accounts.findKey("key_1"))?.revokedAt).toBe(NOW + 5);
      });
    });

    describe("keys' names and last use", () => {
      it("keep a key's name, and the latest use recorded by any process, an earlier one changing nothing", async () => {
        const other = await store.another();
        await store.accounts.createAccount(accountNamed("acct_a"));
        await store.accounts.insertKey(keyOf("key_1", "acct_a", { name: "CI runner" }));
        await store.accounts.insertKey(keyOf("key_2", "acct_a"));
        expect(await store.accounts.findKey("key_1")).toEqual(keyOf("key_1", "acct_a", { name: "CI runner" }));

        await store.accounts.recordKeyUse([
          { keyId: "key_1", at: NOW + 60_000 },
          { keyId: "key_2", at: NOW + 5 },
          { keyId: "key_none", at: NOW + 5 },
        ]);
        await other.accounts.recordKeyUse([{ keyId: "key_1", at: NOW + 120_000 }]);
        await store.accounts.recordKeyUse([{ keyId: "key_1", at: NOW + 1 }]);
        await store.accounts.recordKeyUse([]);
        expect((await store.accounts.listKeys("acct_a")).map((key) => [key.id, key.lastUsedAt])).toEqual([
          ["key_1", NOW + 120_000],
          ["key_2", NOW + 5],
        ]);
        // A use never revives a revoked key, nor is a revocation lost to one.
        await store.accounts.revokeKey("key_2", NOW + 10);
        await other.accounts.recordKeyUse([{ keyId: "key_2", at: NOW + 20 }]);
        expect(await store.accounts.findKey("key_2")).toMatchObject({ revokedAt: NOW + 10, lastUsedAt: NOW + 20 });
      });
    });

    describe("credits and the ledger", () => {
      it("list an account's ledger newest first, a page at a time before a given entry", async () => {
        await store.accounts.createAccount(accountNamed("acct_a"));
        await store.accounts.createAccount(accountNamed("acct_b"));
        for (const amount of [1, 2, 3, 4, 5]) {
          await store.accounts.adjustCredits(grant("acct_a", amount));
          await store.accounts.adjustCredits(grant("acct_b", amount * 10));
        }
        const amounts = (entries: Array<{ amount: number }>) => entries.map((entry) => entry.amount);
        const first = await store.accounts.ledger("acct_a", 2);
        expect(amounts(first)).toEqual([5, 4]);
        const second = await store.accounts.ledger("acct_a", 2, first.at(-1)?.id);
        expect(amounts(second)).toEqual([3, 2]);
        const last = await store.accounts.ledger("acct_a", 2, second.at(-1)?.id);
        expect(amounts(last)).toEqual([1]);
        expect(await store.accounts.ledger("acct_a", 2, last.at(-1)?.id)).toEqual([]);
        // An entry of another account bounds the page by position alone.
        const [bravoNewest] = await store.accounts.ledger("acct_b", 1);
        expect(amounts(await store.accounts.ledger("acct_a", 10, bravoNewest?.id))).toEqual([5, 4, 3, 2, 1]);
        expect((await store.accounts.ledger("acct_a", 10)).every((entry) => entry.accountId === "acct_a")).toBe(true);
      });

      it("move by grants and deductions, never below zero, each recorded with the balance after it", async () => {
        await store.accounts.createAccount(accountNamed("acct_a"));
        expect(await store.accounts.adjustCredits(grant("acct_a", 50))).toEqual({ balance: 50 });
        expect(await store.accounts.adjustCredits(grant("acct_a", -20, "deduct"))).toEqual({ balance: 30 });
        expect(await store.accounts.adjustCredits(grant("acct_a", -31, "deduct"))).toBeNull();
        expect(await store.accounts.adjustCredits(grant("acct_none", 5))).toBeNull();
        expect((await store.accounts.findAccountById("acct_a"))?.credits).toBe(30);
        const ledger = await store.accounts.ledger("acct_a", 10);
        expect(ledger.map(({ id: _id, ...line }) => line)).toEqual([
          { accountId: "acct_a", taskId: null, kind: "deduct", amount: -20, balanceAfter: 30, reason: "test", actor: "cli", createdAt: NOW },
          { accountId: "acct_a", taskId: null, kind: "grant", amount: 50, balanceAfter: 50, reason: "test", actor: "cli", createdAt: NOW },
        ]);
        expect(ledger[0]?.id).toBeGreaterThan(ledger[1]?.id ?? Infinity);
        expect(await store.accounts.ledger("acct_a", 1)).toHaveLength(1);
        expect(await store.accounts.ledgerSum("acct_a")).toBe(30);
        expect(await store.accounts.ledgerSum("acct_none")).toBe(0);
      });

      it("are taken by exactly as many deductions as the balance covers when they race from two processes", async () => {
        const other = await store.another();
        await store.accounts.createAccount(accountNamed("acct_a"));
        await store.accounts.adjustCredits(grant("acct_a", 100));
        const results = await Promise.all(
          Array.from({ length: 30 }, (_, index) => (index % 2 === 0 ? store : other).accounts.adjustCredits(grant("acct_a", -10, "deduct"))),
        );
        expect(results.filter((result) => result !== null)).toHaveLength(10);
        expect((await store.accounts.findAccountById("acct_a"))?.credits).toBe(0);
        expect(await store.accounts.ledgerSum("acct_a")).toBe(0);
        const balances = (await store.accounts.ledger("acct_a", 100)).map((line) => line.balanceAfter);
        expect(balances).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
      });
    });
  });
}
