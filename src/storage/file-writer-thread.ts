import { RequestThread } from "../threads/request-thread.ts";

/** One new file to write durably under its final name, with its metadata sidecar beside it. */
export interface DurableWrite {
  file: string;
  sidecar: string;
  /** Names in the same directory that nothing else uses, renamed into place once written. */
  temporaryFile: string;
  temporarySidecar: string;
  bytes: Buffer;
  contentType: string;
  createdAt: number;
}

/**
 * The writing thread. Writes that arrive together are written together: each file is created
 * beside its final name, written, given its sidecar (which records the file's inode and is not
 * flushed) and flushed; then each sidecar and file is renamed into place, and each directory
 * they went into is flushed once for all of them, as are directories mkdir had to create. A write
 * that fails leaves none of its temporary files behind. Answers carry each file's etag, a
 * SHA-256 of the bytes.
 */
const WRITER_THREAD = `
const fs = require("node:fs");
const path = require("node:path");
const { createHash } = require("node:crypto");
const MAXIMUM_CREATE_ATTEMPTS = 3;

function handle(batch) {
  const answers = [];
  const placed = new Map();
  for (const { id, request: write } of batch) {
    let staged;
    try {
      staged = stage(write);
      fs.renameSync(write.temporarySidecar, write.sidecar);
      fs.renameSync(write.temporaryFile, write.file);
    } catch (error) {
      removeTemporaryFiles(write);
      answers.push(failure(id, error));
      continue;
    }
    const directory = path.dirname(write.file);
    const entry = placed.get(directory) ?? { created: new Set(), writes: [] };
    if (staged.firstCreated !== undefined) entry.created.add(staged.firstCreated);
    entry.writes.push({ id, etag: staged.etag });
    placed.set(directory, entry);
  }
  for (const [directory, entry] of placed) {
    try {
      syncDirectory(directory);
      for (const firstCreated of entry.created) syncCreatedDirectories(directory, firstCreated);
      for (const written of entry.writes) answers.push({ id: written.id, ok: true, value: written.etag });
    } catch (error) {
      for (const written of entry.writes) answers.push(failure(written.id, error));
    }
  }
  return answers;
}

function stage(write) {
  const bytes = Buffer.from(write.bytes.buffer, write.bytes.byteOffset, write.bytes.byteLength);
  // The same etag as blob-keys.ts's contentEtag, which rebuilds it when a sidecar is lost.
  const etag = '"' + createHash("sha256").update(bytes).digest("base64url").slice(0, 22) + '"';
  let firstCreated;
  for (let attempt = 1; ; attempt += 1) {
    const created = fs.mkdirSync(path.dirname(write.file), { recursive: true });
    if (firstCreated === undefined) firstCreated = created;
    let descriptor;
    try {
      descriptor = fs.openSync(write.temporaryFile, "wx", 0o644);
    } catch (error) {
      // A retention sweep may remove an emptied directory between mkdir and open.
      if (error.code !== "ENOENT" || attempt >= MAXIMUM_CREATE_ATTEMPTS) throw error;
      continue;
    }
    try {
      let offset = 0;
      while (offset < bytes.length) offset += fs.writeSync(descriptor, bytes, offset, bytes.length - offset);
      const inode = fs.fstatSync(descriptor, { bigint: true }).ino.toString();
      const metadata = { contentType: write.contentType, etag, size: bytes.length, createdAt: write.createdAt, inode };
      fs.writeFileSync(write.temporarySidecar, JSON.stringify(metadata), { flag: "wx", mode: 0o644 });
      fs.fsyncSync(descriptor);
    } finally {
      fs.closeSync(descriptor);
    }
    return { etag, firstCreated };
  }
}

function syncDirectory(directory) {
  const descriptor = fs.openSync(directory, "r");
  try {
    fs.fsyncSync(descriptor);
  } finally {
    fs.closeSync(descriptor);
  }
}

// A new directory's entry is durable only once its parent is synced, for each level mkdir made.
function syncCreatedDirectories(directory, firstCreated) {
  let current = directory;
  while (current.startsWith(firstCreated) && path.dirname(current) !== current) {
    syncDirectory(path.dirname(current));
    current = path.dirname(current);
  }
}

function removeTemporaryFiles(write) {
  for (const file of [write.temporaryFile, write.temporarySidecar]) {
    try {
      fs.unlinkSync(file);
    } catch {}
  }
}

`;

/**
 * Durable file writes on a thread of their own. Written from the event loop, one new file takes
 * a dozen asynchronous steps (mkdir, open, write, stat, the sidecar's three, the flush, two
 * renames, the directory's flush), each a trip through libuv's thread pool and back through a
 * busy event loop; under load those trips, not the disk, made up most of a result's storing time.
 * Here the whole sequence runs with synchronous calls on one thread, the event loop sends one
 * message and hears one answer, and writes arriving together share their directories' flushes.
 */
export class FileWriterThread {
  private readonly thread = new RequestThread<DurableWrite, string>(WRITER_THREAD, "file-writing thread");

  /**
   * Writes `write` durably; answers the file's etag once it and its name are on disk. With
   * `handOver`, the memory under `write.bytes` moves to the thread instead of being copied
   * (sending a 1.5 MB image, the size of a real one, took the event loop 0.1 to 0.9 ms copied and
   * about 0.06 ms handed over), and `write.bytes` is left empty.
   */
  write(write: DurableWrite, handOver = false): Promise<string> {
    return this.thread.request(write, handOver ? [write.bytes.buffer as ArrayBuffer] : []);
  }

  /** Stops the thread once the writes already asked for are answered; a later write starts a new one. */
  close(): Promise<void> {
    return this.thread.close();
  }
}
