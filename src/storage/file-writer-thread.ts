import { Worker } from "node:worker_threads";

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
const { parentPort } = require("node:worker_threads");
const fs = require("node:fs");
const path = require("node:path");
const { createHash } = require("node:crypto");
const MAXIMUM_CREATE_ATTEMPTS = 3;
let queue = [];
let scheduled = false;

parentPort.on("message", (message) => {
  if (message === null) {
    // Told to stop: what was asked before is written first.
    if (scheduled) writeQueued();
    parentPort.close();
    return;
  }
  queue.push(message);
  if (!scheduled) {
    scheduled = true;
    setImmediate(writeQueued);
  }
});

function writeQueued() {
  scheduled = false;
  const batch = queue;
  queue = [];
  const answers = [];
  const placed = new Map();
  for (const write of batch) {
    let staged;
    try {
      staged = stage(write);
      fs.renameSync(write.temporarySidecar, write.sidecar);
      fs.renameSync(write.temporaryFile, write.file);
    } catch (error) {
      removeTemporaryFiles(write);
      answers.push(failure(write.id, error));
      continue;
    }
    const directory = path.dirname(write.file);
    const entry = placed.get(directory) ?? { created: new Set(), writes: [] };
    if (staged.firstCreated !== undefined) entry.created.add(staged.firstCreated);
    entry.writes.push({ id: write.id, etag: staged.etag });
    placed.set(directory, entry);
  }
  for (const [directory, entry] of placed) {
    try {
      syncDirectory(directory);
      for (const firstCreated of entry.created) syncCreatedDirectories(directory, firstCreated);
      for (const written of entry.writes) answers.push({ id: written.id, ok: true, etag: written.etag });
    } catch (error) {
      for (const written of entry.writes) answers.push(failure(written.id, error));
    }
  }
  parentPort.postMessage(answers);
}

function stage(write) {
  const bytes = Buffer.from(write.bytes.buffer, write.bytes.byteOffset, write.bytes.byteLength);
  // The same etag as LocalBlobStore's computeEtag, which rebuilds it when a sidecar is lost.
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

function failure(id, error) {
  return { id, ok: false, message: String(error?.message ?? error), code: error?.code };
}
`;

type WriteAnswer = { id: number; ok: true; etag: string } | { id: number; ok: false; message: string; code?: string };

interface Pending {
  resolve: (etag: string) => void;
  reject: (error: Error) => void;
}

/**
 * Durable file writes on a thread of their own. Written from the event loop, one new file takes
 * a dozen asynchronous steps (mkdir, open, write, stat, the sidecar's three, the flush, two
 * renames, the directory's flush), each a trip through libuv's thread pool and back through a
 * busy event loop; under load those trips, not the disk, made up most of a result's storing time.
 * Here the whole sequence runs with synchronous calls on one thread, the event loop sends one
 * message and hears one answer, and writes arriving together share their directories' flushes.
 */
export class FileWriterThread {
  private thread: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** close() calls waiting for the pending writes to be answered. */
  private idleWaiters: (() => void)[] = [];
  /** Threads told to stop, whose exit is expected. */
  private readonly stopping = new WeakSet<Worker>();

  /** Writes `write` durably; answers the file's etag once it and its name are on disk. */
  write(write: DurableWrite): Promise<string> {
    return new Promise((resolve, reject) => {
      const id = this.nextId;
      this.nextId += 1;
      const thread = this.startThread();
      this.pending.set(id, { resolve, reject });
      // Held while a write is pending, so the process cannot end with a write unanswered.
      thread.ref();
      thread.postMessage({ id, ...write });
    });
  }

  /** Stops the thread once the writes already asked for are answered; a later write starts a new one. */
  async close(): Promise<void> {
    const thread = this.thread;
    this.thread = null;
    if (thread === null) return;
    if (this.pending.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    const exited = new Promise((resolve) => thread.once("exit", resolve));
    this.stopping.add(thread);
    thread.postMessage(null);
    await exited;
  }

  private startThread(): Worker {
    if (this.thread !== null) return this.thread;
    const thread = new Worker(WRITER_THREAD, { eval: true });
    thread.on("message", (answers: WriteAnswer[]) => {
      for (const answer of answers) {
        const waiting = this.pending.get(answer.id);
        this.pending.delete(answer.id);
        if (waiting === undefined) continue;
        if (answer.ok) waiting.resolve(answer.etag);
        else waiting.reject(Object.assign(new Error(answer.message), { code: answer.code }));
      }
      if (this.pending.size === 0) {
        thread.unref();
        this.wakeIdleWaiters();
      }
    });
    const lost = (error: Error): void => {
      if (this.stopping.has(thread)) return;
      if (this.thread === thread) this.thread = null;
      for (const waiting of this.pending.values()) waiting.reject(error);
      this.pending.clear();
      this.wakeIdleWaiters();
    };
    thread.on("error", lost);
    thread.on("exit", () => lost(new Error("the file-writing thread stopped")));
    thread.unref();
    this.thread = thread;
    return thread;
  }

  private wakeIdleWaiters(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }
}
