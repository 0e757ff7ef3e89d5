import { CoalescedFlush } from "../threads/coalesced-flush.ts";
import { RequestThread } from "../threads/request-thread.ts";

/** Makes every frame written to the write-ahead log so far durable. */
export interface WalSync {
  sync(): Promise<void>;
}

/**
 * The flushing thread: opens the log on first use (it exists once a write has committed, and
 * SQLite keeps the same file while any connection is open), fdatasyncs it for each request, and
 * closes it when told to stop. Each answer is the flush's milliseconds.
 */
const SYNC_THREAD = `
const { openSync, fdatasyncSync, closeSync } = require("node:fs");
let fd = null;
function stop() {
  if (fd !== null) {
    try { closeSync(fd); } catch {}
    fd = null;
  }
}
function handle(batch) {
  return batch.map(({ id, request: file }) => {
    const started = performance.now();
    try {
      if (fd === null) fd = openSync(file, "r+");
      fdatasyncSync(fd);
      return { id, ok: true, value: performance.now() - started };
    } catch (error) {
      stop();
      return failure(id, error);
    }
  });
}
`;

/**
 * fdatasync of the SQLite write-ahead log on a thread of its own, so the event loop goes on while
 * the disk flushes, and no flush waits behind image work in libuv's thread pool. Callers arriving
 * while a sync runs share the next one (CoalescedFlush).
 */
export class WalFileSync implements WalSync {
  private readonly thread = new RequestThread<string, number>(SYNC_THREAD, "write-ahead log's flushing thread");
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
    await this.thread.close();
  }

  private async datasync(): Promise<void> {
    let ms: number;
    try {
      ms = await this.thread.request(this.walFile);
    } catch (error) {
      throw Object.assign(new Error(`flushing ${this.walFile}: ${(error as Error).message}`), { code: (error as NodeJS.ErrnoException).code });
    }
    this.syncs += 1;
    this.syncMs += ms;
  }
}
