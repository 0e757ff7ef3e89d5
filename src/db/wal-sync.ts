import { Worker } from "node:worker_threads";
import { CoalescedFlush } from "../storage/coalesced-flush.ts";

/** Makes every frame written to the write-ahead log so far durable. */
export interface WalSync {
  sync(): Promise<void>;
}

/**
 * The flushing thread: opens the log on first use (it exists once a write has committed, and
 * SQLite keeps the same file while any connection is open), fdatasyncs it on each message, and
 * closes it when told to stop.
 */
const SYNC_THREAD = `
const { parentPort } = require("node:worker_threads");
const { openSync, fdatasyncSync, closeSync } = require("node:fs");
let fd = null;
const forget = () => {
  if (fd !== null) {
    try { closeSync(fd); } catch {}
    fd = null;
  }
};
parentPort.on("message", (file) => {
  if (file === null) {
    forget();
    parentPort.close();
    return;
  }
  const started = performance.now();
  try {
    if (fd === null) fd = openSync(file, "r+");
    fdatasyncSync(fd);
    parentPort.postMessage({ ok: true, ms: performance.now() - started });
  } catch (error) {
    forget();
    parentPort.postMessage({ ok: false, message: String(error?.message ?? error), code: error?.code });
  }
});
`;

type SyncAnswer = { ok: true; ms: number } | { ok: false; message: string; code?: string };

/**
 * fdatasync of the SQLite write-ahead log on a thread of its own, so the event loop goes on while
 * the disk flushes, and no flush waits behind image work in libuv's thread pool. Callers arriving
 * while a sync runs share the next one (CoalescedFlush).
 */
export class WalFileSync implements WalSync {
  private thread: Worker | null = null;
  private waiting: { resolve: () => void; reject: (error: Error) => void } | null = null;
  private readonly flushes = new CoalescedFlush(() => this.datasync());
  /** Syncs made, and milliseconds spent in them (on the flushing thread, not the event loop). */
  syncs = 0;
  syncMs = 0;

  constructor(private readonly walFile: string) {}

  sync(): Promise<void> {
    return this.flushes.run();
  }

  async close(): Promise<void> {
    await this.flushes.idle();
    const thread = this.thread;
    this.thread = null;
    if (thread === null) return;
    const exited = new Promise((resolve) => thread.once("exit", resolve));
    thread.postMessage(null);
    await exited;
  }

  private datasync(): Promise<void> {
    return new Promise((resolve, reject) => {
      const thread = this.startThread();
      this.waiting = { resolve, reject };
      // Held while a flush is pending, so the process cannot end with writes unacknowledged.
      thread.ref();
      thread.postMessage(this.walFile);
    });
  }

  private startThread(): Worker {
    if (this.thread !== null) return this.thread;
    const thread = new Worker(SYNC_THREAD, { eval: true });
    thread.on("message", (answer: SyncAnswer) => {
      thread.unref();
      const waiting = this.waiting;
      this.waiting = null;
      if (answer.ok) {
        this.syncs += 1;
        this.syncMs += answer.ms;
        waiting?.resolve();
      } else {
        waiting?.reject(Object.assign(new Error(`flushing ${this.walFile}: ${answer.message}`), { code: answer.code }));
      }
    });
    const lost = (error: Error): void => {
      if (this.thread === thread) this.thread = null;
      this.waiting?.reject(error);
      this.waiting = null;
    };
    thread.on("error", lost);
    thread.on("exit", () => lost(new Error("the write-ahead log's flushing thread stopped")));
    thread.unref();
    this.thread = thread;
    return thread;
  }
}
