import type { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { BlobStore, StoredBlob } from "../../src/storage/blob-store.ts";

/** A fresh, empty store, and what the suite needs around it. */
export interface BlobStoreFixture {
  store: BlobStore;
  /**
   * Moves the store's notion of time on, so that every put after the call is written strictly
   * later than every put before it (a fake clock advances; a bucket's clock is waited for).
   */
  passTime(): Promise<void>;
  /** Releases the store and removes whatever it wrote. */
  cleanup(): Promise<void>;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** 256 distinct byte values over and over, so any misplaced byte shows. */
function patterned(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let index = 0; index < size; index += 1) bytes[index] = (index * 7 + 3) % 256;
  return bytes;
}

/**
 * The whole behaviour of a BlobStore. Keys name days long past (2000-01-0X), so that no store
 * skips their folders as too recent for a sweep, whatever its clock says.
 */
export function blobStoreContract(name: string, createFixture: () => Promise<BlobStoreFixture>): void {
  describe(`${name} keeps the BlobStore contract`, () => {
    let fixture: BlobStoreFixture;
    let store: BlobStore;

    beforeEach(async () => {
      fixture = await createFixture();
      store = fixture.store;
    });

    afterEach(async () => {
      await fixture.cleanup();
    });

    /** The blob's bytes, or those of a range of it; null when there is no such blob. */
    async function contentOf(key: string, range?: { start: number; end: number }): Promise<Buffer | null> {
      const opened = await store.open(key);
      if (opened === null) return null;
      return readAll(opened.read(range));
    }

    async function exists(key: string): Promise<boolean> {
      const opened = await store.open(key);
      await opened?.close();
      return opened !== null;
    }

    describe("put and open", () => {
      it("answers what it stored, and open answers the same with the same bytes", async () => {
        const bytes = patterned(5_000);
        const stored = await store.put("2000-01-01/task_a.png", bytes, "image/png");
        expect(stored).toEqual({
          key: "2000-01-01/task_a.png",
          contentType: "image/png",
          size: 5_000,
          etag: expect.stringMatching(/^"[^"]+"$/) as unknown,
          createdAt: expect.any(Number) as unknown,
        });
        expect(Number.isFinite(stored.createdAt)).toBe(true);
        const opened = await store.open("2000-01-01/task_a.png");
        expect(opened?.blob).toEqual(stored);
        expect(await readAll(opened?.read() ?? failedRead())).toEqual(bytes);
        // The bytes given to put were not consumed without handOver.
        expect(bytes.length).toBe(5_000);
      });

      it("keeps each blob's content type", async () => {
        await store.put("2000-01-01/a.png", Buffer.from("png"), "image/png");
        await store.put("2000-01-01/b.jpg", Buffer.from("jpeg"), "image/jpeg");
        for (const [key, type] of [["2000-01-01/a.png", "image/png"], ["2000-01-01/b.jpg", "image/jpeg"]]) {
          const opened = await store.open(key ?? "");
          expect(opened?.blob.contentType).toBe(type);
          await opened?.close();
        }
      });

      it("gives the same bytes the same etag and different bytes a different one", async () => {
        const first = await store.put("2000-01-01/a.png", Buffer.from("same bytes"), "image/png");
        const second = await store.put("2000-01-02/b.png", Buffer.from("same bytes"), "image/jpeg");
        const third = await store.put("2000-01-01/c.png", Buffer.from("other bytes"), "image/png");
        expect(second.etag).toBe(first.etag);
        expect(third.etag).not.toBe(first.etag);
      });

      it("replaces a blob written again under the same key, etag and all", async () => {
        const old = await store.put("2000-01-01/a.jpg", Buffer.from("first version"), "image/jpeg");
        const current = await store.put("2000-01-01/a.jpg", Buffer.from("second, longer version"), "image/png");
        expect(current.etag).not.toBe(old.etag);
        const opened = await store.open("2000-01-01/a.jpg");
        expect(opened?.blob).toEqual(current);
        expect((await readAll(opened?.read() ?? failedRead())).toString()).toBe("second, longer version");
      });

      it("answers null for a key never written, and for a folder that holds blobs", async () => {
        expect(await store.open("2000-01-01/task_missing.png")).toBeNull();
        await store.put("2000-01-01/inside/a.png", Buffer.from("x"), "image/png");
        expect(await store.open("2000-01-01/inside")).toBeNull();
      });

      it("stores keys with nested folders, each apart from its neighbours", async () => {
        const keys = ["tenant/2000-01-01/task_a.png", "uploads/acc_1/a/b/c/deep.png", "uploads/acc_1/a/b.png", "top.png"];
        for (const key of keys) await store.put(key, Buffer.from(`bytes of ${key}`), "image/png");
        for (const key of keys) expect((await contentOf(key))?.toString()).toBe(`bytes of ${key}`);
      });

      it("stores many puts made together, each whole", async () => {
        const keys = Array.from({ length: 40 }, (_, index) => `2000-01-0${(index % 3) + 1}/batch-${index}.png`);
        const stored = await Promise.all(keys.map((key, index) => store.put(key, patterned(1_000 + index), "image/png")));
        for (const [index, key] of keys.entries()) {
          const opened = await store.open(key);
          expect(opened?.blob).toEqual(stored[index]);
          expect(await readAll(opened?.read() ?? failedRead())).toEqual(patterned(1_000 + index));
        }
      });

      it("refuses keys that are absolute, empty or climb out of the store", async () => {
        for (const key of ["", "/etc/passwd", "../outside.png", "2000-01-01/../../outside.png", "2000-01-01//a.png"]) {
          await expect(store.put(key, Buffer.from("x"), "image/png")).rejects.toThrow(/Invalid blob key/);
          await expect(store.open(key)).rejects.toThrow(/Invalid blob key/);
          await expect(store.delete(key)).rejects.toThrow(/Invalid blob key/);
        }
      });
    });

    describe("handOver", () => {
      it("stores a large buffer handed over exactly as it was", async () => {
        const bytes = Buffer.from(patterned(300_000).toString("base64"), "base64");
        const copy = Buffer.from(bytes);
        const stored = await store.put("2000-01-01/large.png", bytes, "image/png", { handOver: true });
        expect(stored.size).toBe(300_000);
        expect((await contentOf("2000-01-01/large.png"))?.equals(copy)).toBe(true);
        const again = await store.put("2000-01-01/large-copy.png", copy, "image/png");
        expect(again.etag).toBe(stored.etag);
      });

      it("leaves a small buffer from Node's shared pool and its neighbours whole", async () => {
        const neighbour = Buffer.from("written just before");
        const bytes = Buffer.from("a small image");
        expect(bytes.buffer).toBe(neighbour.buffer);
        await store.put("2000-01-01/small.png", bytes, "image/png", { handOver: true });
        expect(bytes.toString()).toBe("a small image");
        expect(neighbour.toString()).toBe("written just before");
        expect((await contentOf("2000-01-01/small.png"))?.toString()).toBe("a small image");
      });

      it("leaves the rest of a larger buffer whole when a slice of it is handed over", async () => {
        const whole = patterned(300_000);
        const copy = Buffer.from(whole);
        await store.put("2000-01-01/slice.png", whole.subarray(1_000, 2_000), "image/png", { handOver: true });
        expect(whole.equals(copy)).toBe(true);
        expect(await contentOf("2000-01-01/slice.png")).toEqual(copy.subarray(1_000, 2_000));
      });
    });

    describe("ranges", () => {
      const bytes = patterned(1_000);

      beforeEach(async () => {
        await store.put("2000-01-01/ranged.png", bytes, "image/png");
      });

      it.each([
        ["the first byte", 0, 0],
        ["the last byte", 999, 999],
        ["a single byte inside", 500, 500],
        ["a span inside", 10, 19],
        ["a span from the start", 0, 99],
        ["a span to the end", 900, 999],
        ["the whole blob", 0, 999],
      ])("reads %s", async (_what, start, end) => {
        expect(await contentOf("2000-01-01/ranged.png", { start, end })).toEqual(bytes.subarray(start, end + 1));
      });

      it("answers the whole blob's size and etag whatever range is read", async () => {
        const opened = await store.open("2000-01-01/ranged.png");
        expect(opened?.blob.size).toBe(1_000);
        expect((await readAll(opened?.read({ start: 1, end: 2 }) ?? failedRead())).length).toBe(2);
      });
    });

    describe("reading and releasing", () => {
      it("lets a blob be closed unread, or its stream be destroyed early, and opened again", async () => {
        await store.put("2000-01-01/a.png", patterned(200_000), "image/png");
        const unread = await store.open("2000-01-01/a.png");
        await unread?.close();
        const abandoned = await store.open("2000-01-01/a.png");
        const stream = abandoned?.read() ?? failedRead();
        stream.destroy();
        expect((await contentOf("2000-01-01/a.png"))?.equals(patterned(200_000))).toBe(true);
      });
    });

    describe("delete", () => {
      it("removes the blob; deleting it again, or a key never written, is fine", async () => {
        await store.put("2000-01-01/a.png", Buffer.from("x"), "image/png");
        await store.put("2000-01-01/b.png", Buffer.from("y"), "image/png");
        await store.delete("2000-01-01/a.png");
        expect(await store.open("2000-01-01/a.png")).toBeNull();
        await expect(store.delete("2000-01-01/a.png")).resolves.toBeUndefined();
        await expect(store.delete("2000-01-01/never.png")).resolves.toBeUndefined();
        expect(await exists("2000-01-01/b.png")).toBe(true);
      });

      it("lets a deleted key be written again", async () => {
        await store.put("2000-01-01/a.png", Buffer.from("first"), "image/png");
        await store.delete("2000-01-01/a.png");
        await store.put("2000-01-01/a.png", Buffer.from("again"), "image/png");
        expect((await contentOf("2000-01-01/a.png"))?.toString()).toBe("again");
      });
    });

    describe("deleteOlderThan", () => {
      const olderKeys = ["2000-01-01/task_a.png", "2000-01-01/task_b.png", "2000-01-02/task_c.png", "misc/nested/old.png", "misc/uploads/old.png", "top.png"];
      const uploadKeys = ["uploads/acc_1/cats/a.png", "uploads/acc_2/b.png"];
      let first: StoredBlob;
      let cutoff: StoredBlob;

      beforeEach(async () => {
        first = await store.put(olderKeys[0] ?? "", Buffer.from("first"), "image/png");
        for (const key of [...olderKeys.slice(1), ...uploadKeys]) await store.put(key, Buffer.from(key), "image/png");
        await fixture.passTime();
        cutoff = await store.put("2000-01-02/task_cutoff.png", Buffer.from("cutoff"), "image/png");
      });

      it("removes the blobs written before `before`, counts them, and keeps one written exactly then", async () => {
        expect(await store.deleteOlderThan(cutoff.createdAt)).toBe(olderKeys.length + uploadKeys.length);
        for (const key of [...olderKeys, ...uploadKeys]) expect(await exists(key)).toBe(false);
        expect(await exists("2000-01-02/task_cutoff.png")).toBe(true);
      });

      it("removes nothing written at or after `before`", async () => {
        expect(await store.deleteOlderThan(first.createdAt)).toBe(0);
        for (const key of [...olderKeys, ...uploadKeys]) expect(await exists(key)).toBe(true);
        expect(await store.deleteOlderThan(first.createdAt)).toBe(0);
      });

      it("leaves the top-level folders named in `except` alone, and only those", async () => {
        expect(await store.deleteOlderThan(cutoff.createdAt, ["uploads", "2000-01-02"])).toBe(olderKeys.length - 1);
        for (const key of uploadKeys) expect(await exists(key)).toBe(true);
        expect(await exists("2000-01-02/task_c.png")).toBe(true);
        // A folder named so below the top is swept like any other.
        expect(await exists("misc/uploads/old.png")).toBe(false);
        expect(await exists("2000-01-01/task_a.png")).toBe(false);
      });

      it("decides by write time, not by the day a key names", async () => {
        await fixture.passTime();
        const late = await store.put("2000-01-01/task_late.png", Buffer.from("late"), "image/png");
        expect(await store.deleteOlderThan(late.createdAt)).toBe(olderKeys.length + uploadKeys.length + 1);
        expect(await exists("2000-01-01/task_late.png")).toBe(true);
      });

      it("finds nothing more to remove the second time", async () => {
        expect(await store.deleteOlderThan(cutoff.createdAt, ["uploads"])).toBe(olderKeys.length);
        expect(await store.deleteOlderThan(cutoff.createdAt, ["uploads"])).toBe(0);
      });
    });

    it("answers 0 when nothing was ever stored", async () => {
      expect(await store.deleteOlderThan(Date.now() + 86_400_000)).toBe(0);
    });
  });
}

/** Stands in for the stream of a blob that should have been there; reading it fails the test. */
function failedRead(): Readable {
  throw new Error("expected the blob to exist");
}
