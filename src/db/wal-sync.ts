import { open, type FileHandle } from "node:fs/promises";

/** Makes every frame written to the write-ahead log so far durable. */
export interface WalSync {
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * fdatasync of the SQLite write-ahead log in libuv's thread pool, so the event loop goes on while
 * the disk flushes. Syncs never overlap: a caller arriving while one runs waits for the next, which
 * starts when the running one ends (the running one may have begun before the caller's commit was
 * written). Every caller arriving meanwhile shares that next sync, so the flushes coalesce.
 */
export class WalFileSync implements WalSync {
  private handle: Promise<FileHandle> | null = null;
  private running: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  /** Syncs made, and milliseconds spent in them (in the thread pool, not on the event loop). */
  syncs = 0;
  syncMs = 0;

  constructor(private readonly walFile: string) {}

  sync(): Promise<void> {
    if (this.running === null) return this.begin();
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        return this.begin();
      });
    return this.queued;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.running, this.queued]);
    const handle = this.handle;
    this.handle = null;
    if (handle !== null) await (await handle).close();
  }

  private begin(): Promise<void> {
    const run = this.datasync();
    this.running = run;
    const clear = (): void => {
      if (this.running === run) this.running = null;
    };
    run.then(clear, clear);
    return run;
  }

  private async datasync(): Promise<void> {
    // Opened on first use: the log exists once a write has committed. SQLite keeps the same file
    // while any connection is open, so one descriptor serves for the life of the store.
    this.handle ??= open(this.walFile, "r+");
    const handle = this.handle;
    const started = performance.now();
    try {
      await (await handle).datasync();
    } catch (error) {
      // The next sync opens the log afresh.
      if (this.handle === handle) this.handle = null;
      handle.then((handle) => handle.close()).catch(() => undefined);
      throw error;
    }
    this.syncs += 1;
    this.syncMs += performance.now() - started;
  }
}
