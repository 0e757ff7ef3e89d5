import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Upload } from "../../src/domain/uploads/upload.ts";
import type { OpenStorage, StorageFixture } from "../helpers/stores.ts";

const NOW = 1_800_000_000_000;
const HOUR = 3_600_000;

const upload = (filePath: string, bytes: number, changes: Partial<Upload> = {}): Upload => ({
  accountId: "acct_a",
  filePath,
  bytes,
  mimeType: "image/png",
  createdAt: NOW,
  expiresAt: NOW + HOUR,
  ...changes,
});

/** The whole behaviour of an UploadRepository, run against the adapter `open` builds. */
export function uploadRepositoryContract(name: string, open: OpenStorage): void {
  describe(`${name}: UploadRepository`, () => {
    let store: StorageFixture;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    it("reserves up to the account's quota, counting an overwritten file once and other accounts not at all", async () => {
      expect(await store.uploads.reserve(upload("a/one.png", 60), 100)).toBe("reserved");
      expect(await store.uploads.reserve(upload("a/two.png", 41), 100)).toBe("over-quota");
      expect(await store.uploads.reserve(upload("a/two.png", 40), 100)).toBe("reserved");
      expect(await store.uploads.reserve(upload("a/one.png", 60, { createdAt: NOW + 1, expiresAt: NOW + 1 + HOUR }), 100)).toBe("reserved");
      expect(await store.uploads.reserve(upload("a/one.png", 60, { accountId: "acct_b" }), 100)).toBe("reserved");
      expect(await store.uploads.bytesOf("acct_a", NOW + 1)).toBe(100);
      expect(await store.uploads.bytesOf("acct_b", NOW + 1)).toBe(60);
      expect(await store.uploads.bytesOf("acct_c", NOW + 1)).toBe(0);
    });

    it("counts expired uploads no more, against the quota as in the account's bytes", async () => {
      await store.uploads.reserve(upload("old.png", 90, { createdAt: NOW - HOUR, expiresAt: NOW }), 100);
      expect(await store.uploads.bytesOf("acct_a", NOW)).toBe(0);
      expect(await store.uploads.reserve(upload("new.png", 90), 100)).toBe("reserved");
    });

    it("refuses a path through another upload's file, or naming a folder of other uploads", async () => {
      await store.uploads.reserve(upload("a/b.png", 1), 100);
      expect(await store.uploads.reserve(upload("a/b.png/c.png", 1), 100)).toBe("path-conflict");
      expect(await store.uploads.reserve(upload("a", 1), 100)).toBe("path-conflict");
      expect(await store.uploads.reserve(upload("a/b", 1), 100)).toBe("reserved");
      expect(await store.uploads.reserve(upload("a0", 1), 100)).toBe("reserved");
      expect(await store.uploads.reserve(upload("a.png/x", 1, { accountId: "acct_b" }), 100)).toBe("reserved");
    });

    it("removes a record only while no later upload has replaced it", async () => {
      const first = upload("x.png", 10);
      await store.uploads.reserve(first, 100);
      const second = upload("x.png", 20, { createdAt: NOW + 1, expiresAt: NOW + 1 + HOUR });
      await store.uploads.reserve(second, 100);
      expect(await store.uploads.remove(first)).toBe(false);
      expect(await store.uploads.bytesOf("acct_a", NOW + 1)).toBe(20);
      expect(await store.uploads.remove(second)).toBe(true);
      expect(await store.uploads.remove(second)).toBe(false);
      expect(await store.uploads.bytesOf("acct_a", NOW + 1)).toBe(0);
    });

    it("lists the expired uploads oldest first, at most `limit`", async () => {
      await store.uploads.reserve(upload("c.png", 1, { expiresAt: NOW + 3 }), 100);
      await store.uploads.reserve(upload("a.png", 1, { expiresAt: NOW + 1 }), 100);
      await store.uploads.reserve(upload("b.png", 1, { expiresAt: NOW + 2, accountId: "acct_b" }), 100);
      await store.uploads.reserve(upload("live.png", 1, { expiresAt: NOW + HOUR }), 100);
      expect(await store.uploads.expired(NOW + 3, 10)).toEqual([
        upload("a.png", 1, { expiresAt: NOW + 1 }),
        upload("b.png", 1, { expiresAt: NOW + 2, accountId: "acct_b" }),
        upload("c.png", 1, { expiresAt: NOW + 3 }),
      ]);
      expect((await store.uploads.expired(NOW + 3, 1)).map((row) => row.filePath)).toEqual(["a.png"]);
    });

    it("never lets reservations racing from two processes pass the quota together", async () => {
      const other = await store.another();
      const outcomes = await Promise.all(
        Array.from({ length: 12 }, (_, index) => (index % 2 === 0 ? store : other).uploads.reserve(upload(`f${index}.png`, 30), 100)),
      );
      expect(outcomes.filter((outcome) => outcome === "reserved")).toHaveLength(3);
      expect(await store.uploads.bytesOf("acct_a", NOW)).toBe(90);
    });
  });
}
