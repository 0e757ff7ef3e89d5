import { mkdir, mkdtemp, readFile, readdir, rm, stat, unlink, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Clock } from "../../src/domain/clock.ts";
import { LocalBlobStore } from "../../src/storage/local-blob-store.ts";
import { loadOrCreateSigningSecret } from "../../src/storage/url-signer.ts";

const DAY_MS = 86_400_000;
const dayOne = Date.UTC(2026, 10, 24);

class FakeClock implements Clock {
  constructor(public current: number) {}
  now(): number {
    return this.current;
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Every file below `root`, as slash paths relative to it. */
async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)).split(path.sep).join("/"))
    .sort();
}

/** Opens and releases a blob, so no file handle outlives the test. */
async function exists(key: string): Promise<boolean> {
  const opened = await store.open(key);
  await opened?.close();
  return opened !== null;
}

let temporaryDirectory: string;
let root: string;
let clock: FakeClock;
let store: LocalBlobStore;

beforeEach(async () => {
  temporaryDirectory = await mkdtemp(path.join(os.tmpdir(), "imagegate-blobs-"));
  root = path.join(temporaryDirectory, "files");
  clock = new FakeClock(dayOne + 3_600_000);
  store = new LocalBlobStore({ root, clock });
});

afterEach(async () => {
  await store.close();
  await rm(temporaryDirectory, { recursive: true, force: true });
});

describe("LocalBlobStore put and open", () => {
  it("with handOver moves a large image's memory to the writing thread instead of copying it", async () => {
    const bytes = Buffer.from(Buffer.alloc(300_000, 7).toString("base64"), "base64");
    const copy = Buffer.from(bytes);
    const stored = await store.put("2026-11-24/large.png", bytes, "image/png", { handOver: true });
    expect(stored.size).toBe(300_000);
    expect(bytes.length).toBe(0);
    expect((await readFile(path.join(root, "2026-11-24/large.png"))).equals(copy)).toBe(true);
  });

  it("copies a buffer carved from Node's shared pool even with handOver, leaving it and its neighbours whole", async () => {
    const neighbour = Buffer.from("written just before");
    const bytes = Buffer.from("a small image");
    expect(bytes.buffer).toBe(neighbour.buffer);
    await store.put("2026-11-24/small.png", bytes, "image/png", { handOver: true });
    expect(bytes.toString()).toBe("a small image");
    expect(neighbour.toString()).toBe("written just before");
    expect(await readFile(path.join(root, "2026-11-24/small.png"), "utf8")).toBe("a small image");
  });

  it("copies without handOver, and copies a small slice of a larger buffer even with it", async () => {
    const large = Buffer.alloc(300_000, 3);
    await store.put("2026-11-24/kept.png", large, "image/png");
    expect(large.length).toBe(300_000);
    const whole = Buffer.alloc(300_000, 5);
    const slice = whole.subarray(1_000, 2_000);
    await store.put("2026-11-24/slice.png", slice, "image/png", { handOver: true });
    expect(whole.length).toBe(300_000);
    expect(slice.length).toBe(1_000);
  });

  it("returns what it stored: bytes, content type, size, etag and the clock's time", async () => {
    const bytes = Buffer.from("png bytes for the test");
    const stored = await store.put("2026-11-24/task_abc.png", bytes, "image/png");
    expect(stored).toEqual({
      key: "2026-11-24/task_abc.png",
      contentType: "image/png",
      size: bytes.length,
      etag: expect.stringMatching(/^"[A-Za-z0-9_-]{22}"$/) as unknown,
      createdAt: dayOne + 3_600_000,
    });
    const opened = await store.open("2026-11-24/task_abc.png");
    expect(opened?.blob).toEqual(stored);
    if (opened === null) return;
    expect(await readAll(opened.read())).toEqual(bytes);
  });

  it("records in the metadata the inode and size of the file it describes", async () => {
    await store.put("2026-11-24/inode.png", Buffer.from("pixels"), "image/png");
    const file = path.join(root, "2026-11-24", "inode.png");
    const metadata = JSON.parse(await readFile(`${file}.meta.json`, "utf8")) as { inode: string; size: number };
    const fileStat = await stat(file, { bigint: true });
    expect(metadata).toMatchObject({ inode: fileStat.ino.toString(), size: 6 });
  });

  it("leaves only the blob and its metadata behind, no temporary files", async () => {
    await store.put("2026-11-24/a.png", Buffer.from("one"), "image/png");
    await store.put("2026-11-24/a.png", Buffer.from("two"), "image/png");
    await store.put("2026-11-25/b.jpg", Buffer.from("three"), "image/jpeg");
    expect(await listFiles(root)).toEqual([
      "2026-11-24/a.png",
      "2026-11-24/a.png.meta.json",
      "2026-11-25/b.jpg",
      "2026-11-25/b.jpg.meta.json",
    ]);
  });

  it("leaves no temporary file when a put fails", async () => {
    await mkdir(root, { recursive: true });
    // A file where the day's directory should be makes the put fail.
    await writeFile(path.join(root, "2026-11-24"), "not a directory");
    await expect(store.put("2026-11-24/a.png", Buffer.from("x"), "image/png")).rejects.toThrow();
    expect(await listFiles(root)).toEqual(["2026-11-24"]);
  });

  it("stores puts made together, into several directories, each whole", async () => {
    const keys = Array.from({ length: 40 }, (_, index) => `2026-11-2${index % 3}/batch-${index}.png`);
    const stored = await Promise.all(keys.map((key) => store.put(key, Buffer.from(`bytes of ${key}`), "image/png")));
    for (const [index, key] of keys.entries()) {
      const opened = await store.open(key);
      expect(opened?.blob).toEqual(stored[index]);
      expect((await readAll(opened?.read() ?? Readable.from([]))).toString()).toBe(`bytes of ${key}`);
    }
    expect((await listFiles(root)).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  it("fails only the put that cannot be written when others are written with it", async () => {
    await mkdir(root, { recursive: true });
    await writeFile(path.join(root, "2026-11-24"), "not a directory");
    const outcomes = await Promise.allSettled([
      store.put("2026-11-25/fine.png", Buffer.from("fine"), "image/png"),
      store.put("2026-11-24/blocked.png", Buffer.from("blocked"), "image/png"),
      store.put("2026-11-25/also-fine.jpg", Buffer.from("also fine"), "image/jpeg"),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(await listFiles(root)).toEqual([
      "2026-11-24",
      "2026-11-25/also-fine.jpg",
      "2026-11-25/also-fine.jpg.meta.json",
      "2026-11-25/fine.png",
      "2026-11-25/fine.png.meta.json",
    ]);
  });

  it("finishes the writes asked for before close", async () => {
    const putting = store.put("2026-11-24/late.png", Buffer.from("late"), "image/png");
    await store.close();
    await expect(putting).resolves.toMatchObject({ key: "2026-11-24/late.png", size: 4 });
    expect(await exists("2026-11-24/late.png")).toBe(true);
  });

  it("writes again after close", async () => {
    await store.put("2026-11-24/before.png", Buffer.from("before"), "image/png");
    await store.close();
    await store.put("2026-11-24/after.png", Buffer.from("after"), "image/png");
    expect(await exists("2026-11-24/before.png")).toBe(true);
    expect(await exists("2026-11-24/after.png")).toBe(true);
  });

  it("never serves a temporary file left by a crashed put", async () => {
    await mkdir(path.join(root, "2026-11-24"), { recursive: true });
    await writeFile(path.join(root, "2026-11-24", ".a.png.0123456789ab.tmp"), "half a fil");
    expect(await store.open("2026-11-24/a.png")).toBeNull();
  });

  it("rebuilds content type and etag from the file when its metadata is lost", async () => {
    const stored = await store.put("2026-11-24/a.jpeg", Buffer.from("jpeg bytes"), "image/jpeg");
    await unlink(path.join(root, "2026-11-24", "a.jpeg.meta.json"));
    const opened = await store.open("2026-11-24/a.jpeg");
    expect(opened?.blob.etag).toBe(stored.etag);
    expect(opened?.blob.contentType).toBe("image/jpeg");
    expect(opened?.blob.size).toBe(stored.size);
    if (opened === null) return;
    expect((await readAll(opened.read())).toString()).toBe("jpeg bytes");
  });

  it("rebuilds them as well from metadata a crash left empty or cut short", async () => {
    // The metadata is not flushed before its rename (the file is): power loss can leave it so.
    const stored = await store.put("2026-11-24/b.png", Buffer.from("png bytes"), "image/png");
    const sidecar = path.join(root, "2026-11-24", "b.png.meta.json");
    for (const damaged of ["", '{"contentType":"image/png","et']) {
      await writeFile(sidecar, damaged);
      const opened = await store.open("2026-11-24/b.png");
      expect(opened?.blob).toMatchObject({ etag: stored.etag, contentType: "image/png", size: stored.size });
      await opened?.close();
    }
  });

  it("ignores metadata that describes another version of the file", async () => {
    const old = await store.put("2026-11-24/a.png", Buffer.from("old"), "image/png");
    const oldMetadata = await readFile(path.join(root, "2026-11-24", "a.png.meta.json"));
    const current = await store.put("2026-11-24/a.png", Buffer.from("new"), "image/png");
    // As after a crash between the two renames of an overwrite.
    await writeFile(path.join(root, "2026-11-24", "a.png.meta.json"), oldMetadata);
    const opened = await store.open("2026-11-24/a.png");
    expect(opened?.blob.etag).toBe(current.etag);
    expect(opened?.blob.etag).not.toBe(old.etag);
    await opened?.close();
  });
});

describe("LocalBlobStore delete", () => {
  it("removes the blob and its metadata", async () => {
    await store.put("2026-11-24/a.png", Buffer.from("x"), "image/png");
    await store.delete("2026-11-24/a.png");
    expect(await store.open("2026-11-24/a.png")).toBeNull();
    expect(await listFiles(root)).toEqual([]);
  });

});

describe("LocalBlobStore key validation", () => {
  const invalidKeys = [
    "",
    "/etc/passwd",
    "../outside.png",
    "2026-11-24/../../outside.png",
    "2026-11-24/a..png",
    "2026-11-24\\a.png",
    "2026-11-24/a\0.png",
    "2026-11-24//a.png",
    "2026-11-24/",
    "./a.png",
    "2026-11-24/.hidden.png",
    "2026-11-24/a.png.meta.json",
  ];

  it.each(invalidKeys)("throws for %j on put, open and delete", async (key) => {
    await expect(store.put(key, Buffer.from("x"), "image/png")).rejects.toThrow(/Invalid blob key/);
    await expect(store.open(key)).rejects.toThrow(/Invalid blob key/);
    await expect(store.delete(key)).rejects.toThrow(/Invalid blob key/);
  });

});

describe("LocalBlobStore deleteOlderThan", () => {
  async function putAt(time: number, key: string): Promise<void> {
    clock.current = time;
    await store.put(key, Buffer.from(key), "image/png");
  }

  beforeEach(async () => {
    await putAt(dayOne + 1_000, "2026-11-24/task_a.png");
    await putAt(dayOne + 2_000, "2026-11-24/task_b.png");
    await putAt(dayOne + DAY_MS + 1_000, "2026-11-25/task_c.png");
    await putAt(dayOne + 2 * DAY_MS + 3_600_000, "2026-11-26/task_morning.png");
    await putAt(dayOne + 2 * DAY_MS + 20 * 3_600_000, "2026-11-26/task_evening.png");
    await putAt(dayOne + 3 * DAY_MS + 1_000, "2026-11-27/task_d.png");
  });

  it("removes blobs written before the cutoff, counts them and removes emptied day directories", async () => {
    const cutoff = dayOne + 2 * DAY_MS + 12 * 3_600_000;
    expect(await store.deleteOlderThan(cutoff)).toBe(4);
    expect(await listFiles(root)).toEqual([
      "2026-11-26/task_evening.png",
      "2026-11-26/task_evening.png.meta.json",
      "2026-11-27/task_d.png",
      "2026-11-27/task_d.png.meta.json",
    ]);
    expect((await readdir(root)).sort()).toEqual(["2026-11-26", "2026-11-27"]);
    expect(await store.open("2026-11-26/task_morning.png")).toBeNull();
    expect(await exists("2026-11-26/task_evening.png")).toBe(true);
  });

  it("removes nothing when every blob is newer, and removes everything after the last day", async () => {
    expect(await store.deleteOlderThan(dayOne)).toBe(0);
    expect(await listFiles(root)).toHaveLength(12);
    expect(await store.deleteOlderThan(dayOne + 10 * DAY_MS)).toBe(6);
    expect(await readdir(root)).toEqual([]);
  });

  it("decides by write time, not by the day a key names", async () => {
    // A task created late on the 24th whose image was stored on the 26th.
    await putAt(dayOne + 2 * DAY_MS + 5_000, "2026-11-24/task_late.png");
    expect(await store.deleteOlderThan(dayOne + DAY_MS + 5_000)).toBe(3);
    expect(await exists("2026-11-24/task_late.png")).toBe(true);
  });

  it("sweeps keys outside date-named directories too", async () => {
    await putAt(dayOne + 1_000, "misc/nested/old.png");
    await putAt(dayOne + 5 * DAY_MS, "misc/new.png");
    expect(await store.deleteOlderThan(dayOne + 4 * DAY_MS)).toBe(7);
    expect(await listFiles(root)).toEqual(["misc/new.png", "misc/new.png.meta.json"]);
  });

  it("clears stale temporary files and orphaned metadata without counting them", async () => {
    const directory = path.join(root, "2026-11-24");
    const staleTemporary = path.join(directory, ".task_x.png.0123456789ab.tmp");
    await writeFile(staleTemporary, "half");
    const oldSeconds = (dayOne - DAY_MS) / 1000;
    await utimes(staleTemporary, oldSeconds, oldSeconds);
    // The blob went away but its metadata stayed, as after an interrupted delete.
    await unlink(path.join(directory, "task_a.png"));
    expect(await store.deleteOlderThan(dayOne + DAY_MS)).toBe(1);
    await expect(stat(directory)).rejects.toThrow(/ENOENT/);
  });

  it("answers 0 when nothing was ever stored", async () => {
    const empty = new LocalBlobStore({ root: path.join(temporaryDirectory, "never-created"), clock });
    expect(await empty.deleteOlderThan(dayOne + 10 * DAY_MS)).toBe(0);
  });
});

describe("loadOrCreateSigningSecret", () => {
  it("creates a 32-byte key, stored base64 in a 0600 file inside a 0700 directory", async () => {
    const dataDirectory = path.join(temporaryDirectory, "data");
    const secret = await loadOrCreateSigningSecret(dataDirectory);
    expect(secret).toHaveLength(32);
    const keyPath = path.join(dataDirectory, "secrets", "url-signing.key");
    expect(Buffer.from((await readFile(keyPath, "utf8")).trim(), "base64")).toEqual(secret);
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
    expect((await stat(path.join(dataDirectory, "secrets"))).mode & 0o777).toBe(0o700);
    expect(await readdir(path.join(dataDirectory, "secrets"))).toEqual(["url-signing.key"]);
  });

  it("returns the stored key on later starts", async () => {
    const first = await loadOrCreateSigningSecret(temporaryDirectory);
    const second = await loadOrCreateSigningSecret(temporaryDirectory);
    expect(second).toEqual(first);
  });

  it("hands the same key to processes starting at the same time", async () => {
    const secrets = await Promise.all(
      Array.from({ length: 8 }, async () => loadOrCreateSigningSecret(temporaryDirectory)),
    );
    for (const secret of secrets) expect(secret).toEqual(secrets[0]);
    expect(await readdir(path.join(temporaryDirectory, "secrets"))).toEqual(["url-signing.key"]);
  });

  it("refuses a damaged key file instead of replacing it", async () => {
    await mkdir(path.join(temporaryDirectory, "secrets"));
    await writeFile(path.join(temporaryDirectory, "secrets", "url-signing.key"), "c2hvcnQ=\n");
    await expect(loadOrCreateSigningSecret(temporaryDirectory)).rejects.toThrow(/not 32 base64-encoded bytes/);
  });
});
