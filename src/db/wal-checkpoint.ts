import { createRequire } from "node:module";
import { RequestThread } from "../storage/request-thread.ts";

/**
 * Log frames after which the event loop's own connection checkpoints, as SQLite does after every
 * commit that leaves the log longer (its default is 1,000). With checkpoints in the background it
 * only bounds the log (about 40 MB) under writes so steady that no background checkpoint ever
 * finds the log quiet enough to restart it; by then the thread has copied nearly every frame, so
 * this checkpoint copies only the last few.
 */
export const BACKGROUND_AUTOCHECKPOINT_FRAMES = 10_000;

/** How long after a commit its checkpoint waits, so that one copies the frames of many commits. */
const DEFAULT_DELAY_MS = 50;

interface CheckpointRequest {
  /** The database file. */
  file: string;
  /** better-sqlite3's entry point, resolved by the server: the thread has no module path of its own. */
  driver: string;
}

export interface CheckpointResult {
  /** Frames in the log when it ran, and how many of them are now in the database file. */
  frames: number;
  checkpointed: number;
  /** Milliseconds the checkpoint took, on the thread. */
  ms: number;
}

/**
 * The checkpointing thread: a connection of its own, opened on first use, that copies the log's
 * frames into the database file and syncs it (PASSIVE: it takes no lock a writer needs, and copies
 * only what no reader still needs from the log). It never writes, so it never changes what
 * data_version tells the server's connection.
 */
const CHECKPOINT_THREAD = `
let database = null;
function stop() {
  if (database !== null) {
    try { database.close(); } catch {}
    database = null;
  }
}
function handle(batch) {
  return batch.map(({ id, request }) => {
    const started = performance.now();
    try {
      if (database === null) {
        const Database = require(request.driver);
        database = new Database(request.file, { fileMustExist: true });
        database.pragma("synchronous = FULL");
        database.pragma("busy_timeout = 5000");
      }
      const [row] = database.pragma("wal_checkpoint(PASSIVE)");
      return { id, ok: true, value: { frames: row.log, checkpointed: row.checkpointed, ms: performance.now() - started } };
    } catch (error) {
      stop();
      return failure(id, error);
    }
  });
}
`;

/**
 * Checkpoints of the write-ahead log, off the event loop. SQLite checkpoints at the end of the
 * commit that grows the log past 1,000 frames, on the committing connection: at a few thousand
 * tasks a second that held the event loop for 8 to 15 ms every ~70 commits (copying the pages,
 * then two fsyncs), over half of all the time commits took. Here a thread of its own checkpoints
 * shortly after commits instead, while the event loop goes on; the event loop's connection
 * checkpoints only past BACKGROUND_AUTOCHECKPOINT_FRAMES (see there).
 *
 * A failed checkpoint loses nothing (the frames stay in the log, and a later checkpoint copies
 * them); `onFailure` hears of the first of a run of failures, and `onRecovery` of the success
 * that ends it.
 */
export class WalCheckpointer {
  private readonly thread = new RequestThread<CheckpointRequest, CheckpointResult>(CHECKPOINT_THREAD, "checkpointing thread");
  private readonly request: CheckpointRequest;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  /** A commit arrived while a checkpoint ran: another follows it. */
  private wanted = false;
  private closed = false;
  private failing = false;
  /** Checkpoints made, the milliseconds they took on the thread, and the frames in the log at the last one. */
  checkpoints = 0;
  checkpointMs = 0;
  lastFrames = 0;
  failures = 0;

  constructor(
    databaseFile: string,
    private readonly listeners: { onFailure: (error: Error) => void; onRecovery: () => void },
    private readonly delayMs = DEFAULT_DELAY_MS,
  ) {
    this.request = { file: databaseFile, driver: createRequire(import.meta.url).resolve("better-sqlite3") };
  }

  /** Called after each commit: a checkpoint follows within the delay, sharing it with every commit meanwhile. */
  committed(): void {
    if (this.closed) return;
    if (this.running !== null) {
      this.wanted = true;
      return;
    }
    if (this.timer !== null) return;
    this.timer = setTimeout(() => this.run(), this.delayMs);
    // A pending checkpoint keeps no process alive: whatever it would copy, the next one copies.
    this.timer.unref();
  }

  /** Waits for a checkpoint in progress, cancels the next, and closes the thread's connection. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    await this.thread.close();
  }

  private run(): void {
    this.timer = null;
    this.wanted = false;
    this.running = this.thread.request(this.request).then(
      (result) => {
        this.checkpoints += 1;
        this.checkpointMs += result.ms;
        this.lastFrames = result.frames;
        if (this.failing) {
          this.failing = false;
          this.listeners.onRecovery();
        }
      },
      (error: unknown) => {
        this.failures += 1;
        if (!this.failing) {
          this.failing = true;
          this.listeners.onFailure(error instanceof Error ? error : new Error(String(error)));
        }
      },
    );
    void this.running.then(() => {
      this.running = null;
      if (this.wanted) this.committed();
    });
  }
}
