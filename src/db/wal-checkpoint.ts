import { closeSync, openSync, readSync } from "node:fs";
import { createRequire } from "node:module";
import { endianness } from "node:os";
import { RequestThread } from "../threads/request-thread.ts";

/**
 * Log frames after which the event loop's own connection checkpoints, at the end of a commit,
 * whatever is left to copy (SQLite's wal_autocheckpoint; its default is 1,000). With checkpoints
 * in the background this is only the hard bound on the log (about 200 MB): the checkpointer
 * finishes the log's checkpoint on the event loop long before, once little is left (see
 * CheckpointThresholds.boundFrames).
 */
export const BACKGROUND_AUTOCHECKPOINT_FRAMES = 50_000;

/** When a checkpoint is due, from the log's length and the frames no checkpoint has copied yet. */
export interface CheckpointThresholds {
  /** A background checkpoint is due at this many, as SQLite's own is (past 1,000 frames). */
  pendingFrames: number;
  /** Once the log is this long (it has not started over for a while), due at `nearBoundPending`. */
  longLogFrames: number;
  nearBoundPending: number;
  /**
   * Once the log is this long and at most `nearBoundPending` frames wait, the commit's own
   * connection copies them on the event loop, a checkpoint that ends with every frame copied, so
   * the next write starts the log over. Under writes too steady for a background checkpoint ever
   * to find the log quiet this is how the log stays short; it waits for the thread to have copied
   * nearly everything, so that it costs the event loop little.
   */
  boundFrames: number;
}

const DEFAULT_THRESHOLDS: CheckpointThresholds = {
  pendingFrames: 1_000,
  longLogFrames: 8_000,
  nearBoundPending: 100,
  boundFrames: 10_000,
};

/** Where the log's length lies in SQLite's wal-index (the -shm file): see logLength. */
const MX_FRAME_OFFSET = 16;
const BACKFILL_OFFSET = 96;
const LOG_INDEX_HEADER_BYTES = 136;
/** The wal-index holds its integers in the machine's byte order. */
const readIndexInteger = endianness() === "LE" ? Buffer.prototype.readUInt32LE : Buffer.prototype.readUInt32BE;
/** Without the wal-index to read, a checkpoint every this many commits. */
const COMMITS_PER_CHECKPOINT_BLIND = 100;

/** The log's length in frames and how many of them are in the database file. */
export interface LogLength {
  frames: number;
  backfilled: number;
}

interface CheckpointRequest {
  /** The database file. */
  file: string;
  /** better-sqlite3's entry point, resolved by the server: the thread has no module path of its own. */
  driver: string;
}

interface CheckpointResult {
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
      database.pragma("wal_checkpoint(PASSIVE)");
      return { id, ok: true, value: { ms: performance.now() - started } };
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
 * when as many frames wait, read from the wal-index after each commit, while the event loop goes
 * on; the event loop's connection copies only the last few frames of a long log, so that it starts
 * over (CheckpointThresholds.boundFrames). A checkpoint no sooner than SQLite's own keeps the
 * disk's flushes as few as before.
 *
 * A failed checkpoint loses nothing (the frames stay in the log, and a later checkpoint copies
 * them); `onFailure` hears of the first of a run of failures, and `onRecovery` of the success
 * that ends it.
 */
export class WalCheckpointer {
  private readonly thread = new RequestThread<CheckpointRequest, CheckpointResult>(CHECKPOINT_THREAD, "checkpointing thread");
  private readonly request: CheckpointRequest;
  private readonly logIndexFile: string;
  /** The wal-index's descriptor; null when it cannot be read (then every Nth commit is due). */
  private logIndex: number | null | undefined = undefined;
  private readonly header = Buffer.alloc(LOG_INDEX_HEADER_BYTES);
  private commitsSince = 0;
  private running: Promise<void> | null = null;
  /** A checkpoint came due while one ran: the log is looked at again when it ends. */
  private wanted = false;
  private closed = false;
  private failing = false;
  /** Checkpoints made and the milliseconds they took on the thread. */
  checkpoints = 0;
  checkpointMs = 0;
  /** Checkpoints of a long log's last frames on the event loop, so it starts over, and their milliseconds. */
  restartCheckpoints = 0;
  restartCheckpointMs = 0;
  failures = 0;
  /** The log's length in frames, as the last commit left it. */
  logFrames = 0;

  /**
   * `checkpointHere` checkpoints on the connection that commits (PASSIVE), when the log is past its
   * bound (see CheckpointThresholds.boundFrames).
   */
  constructor(
    databaseFile: string,
    private readonly listeners: { onFailure: (error: Error) => void; onRecovery: () => void },
    private readonly checkpointHere: () => void,
    private readonly thresholds: CheckpointThresholds = DEFAULT_THRESHOLDS,
  ) {
    this.request = { file: databaseFile, driver: createRequire(import.meta.url).resolve("better-sqlite3") };
    this.logIndexFile = `${databaseFile}-shm`;
  }

  /**
   * Called after each commit: finishes a long log's checkpoint here, or starts one on the thread,
   * when one is due (see CheckpointThresholds).
   */
  committed(): void {
    if (this.closed) return;
    const due = this.due();
    if (due === "here") this.checkpointOnThisConnection();
    else if (due === "thread" && this.running !== null) this.wanted = true;
    else if (due === "thread") this.run();
  }

  /**
   * The log's length now, from the wal-index, which SQLite keeps in the -shm file beside the
   * database (its file format's "WAL-index format"): the first copy of the header holds mxFrame at
   * byte 16, the checkpoint information that follows both copies nBackfill at byte 96, each a
   * 32-bit integer in the machine's byte order. Null when the file cannot be read. The file is
   * opened once and only read, never locked; it is closed by closeLogIndex alone.
   */
  logLength(): LogLength | null {
    if (this.logIndex === undefined) {
      try {
        this.logIndex = openSync(this.logIndexFile, "r");
      } catch {
        this.logIndex = null;
      }
    }
    if (this.logIndex === null) return null;
    try {
      if (readSync(this.logIndex, this.header, 0, LOG_INDEX_HEADER_BYTES, 0) < LOG_INDEX_HEADER_BYTES) return null;
    } catch {
      return null;
    }
    return { frames: readIndexInteger.call(this.header, MX_FRAME_OFFSET), backfilled: readIndexInteger.call(this.header, BACKFILL_OFFSET) };
  }

  /**
   * Waits for a checkpoint in progress and closes the thread's connection; no checkpoint starts
   * after. The wal-index stays open: see closeLogIndex.
   */
  async close(): Promise<void> {
    this.closed = true;
    await this.running;
    await this.thread.close();
  }

  /**
   * Closes the descriptor of the wal-index, only once every connection of this process to the
   * database is closed: closing any descriptor of a file drops all the locks the process holds on
   * it (POSIX advisory locks), and SQLite's connections hold theirs on the wal-index while open.
   */
  closeLogIndex(): void {
    if (typeof this.logIndex === "number") closeSync(this.logIndex);
    this.logIndex = undefined;
  }

  /** Which checkpoint the log calls for now, if any; without the wal-index, every Nth commit's. */
  private due(): "here" | "thread" | null {
    const log = this.logLength();
    if (log === null) {
      this.commitsSince += 1;
      return this.commitsSince >= COMMITS_PER_CHECKPOINT_BLIND ? "thread" : null;
    }
    this.logFrames = log.frames;
    const pending = log.frames - log.backfilled;
    if (log.frames >= this.thresholds.boundFrames && pending <= this.thresholds.nearBoundPending && this.running === null) {
      return "here";
    }
    const threshold = log.frames >= this.thresholds.longLogFrames ? this.thresholds.nearBoundPending : this.thresholds.pendingFrames;
    return pending > 0 && pending >= threshold ? "thread" : null;
  }

  /** Right after a commit: a fault here must reach neither the commit's callers nor the event loop. */
  private checkpointOnThisConnection(): void {
    const started = performance.now();
    try {
      this.checkpointHere();
      this.restartCheckpoints += 1;
      this.restartCheckpointMs += performance.now() - started;
      this.succeeded();
    } catch (error) {
      this.failed(error);
    }
  }

  private run(): void {
    this.wanted = false;
    this.commitsSince = 0;
    this.running = this.thread.request(this.request).then(
      (result) => {
        this.checkpoints += 1;
        this.checkpointMs += result.ms;
        this.succeeded();
      },
      (error: unknown) => this.failed(error),
    );
    void this.running.then(() => {
      this.running = null;
      if (this.wanted) this.committed();
    });
  }

  private succeeded(): void {
    if (!this.failing) return;
    this.failing = false;
    this.listeners.onRecovery();
  }

  private failed(error: unknown): void {
    this.failures += 1;
    if (this.failing) return;
    this.failing = true;
    this.listeners.onFailure(error instanceof Error ? error : new Error(String(error)));
  }
}
