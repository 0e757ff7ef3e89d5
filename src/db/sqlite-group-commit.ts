import type SqliteDatabase from "better-sqlite3";
import type { Durability } from "../domain/tasks/ports.ts";
import type { WalSync } from "./wal-sync.ts";

/** A write of the group threw: the group is run again, each write in its own savepoint. */
class WriteFailed extends Error {
  constructor(cause: unknown) {
    super("a write of the group failed", { cause });
  }
}

interface PendingWrite {
  work: () => unknown;
  wait: Durability;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for the embedded database. Writes submitted during one turn of the event loop run
 * together in one IMMEDIATE transaction, so concurrent requests share one fsync instead of paying
 * one each; every caller hears of its own write only after that commit is on disk. A write that
 * throws is undone alone and the rest of the group still commits (see the constructor). A lone
 * write waits for no one: the group closes at the end of the current turn (setImmediate).
 *
 * Given a WalSync, a group commits without SQLite's own fsync and `walSync` flushes the log off
 * the event loop instead: the callers still hear only after their writes are on disk, but the
 * event loop serves requests (and commits the next group) while the disk works, and one flush
 * serves every group committed while the previous one ran. A group whose writes all asked only
 * for the commit asks for no flush: the next one makes it durable. Other writes on the connection
 * keep the connection's own synchronous level.
 */
export class SqliteGroupCommit {
  private pending: PendingWrite[] = [];
  private scheduled = false;
  private readonly commitGroup: SqliteDatabase.Transaction<(writes: PendingWrite[]) => unknown[]>;
  private readonly commitGroupDirectly: SqliteDatabase.Transaction<(writes: PendingWrite[]) => unknown[]>;
  /** Commits made and writes carried, for the metrics of the fast path. */
  commits = 0;
  writes = 0;
  /** Milliseconds spent running groups (SQLite's fsync included when there is no WalSync): the event loop is blocked meanwhile. */
  busyMs = 0;

  /** The connection's own synchronous level, restored after each group; null without a WalSync. */
  private readonly level: number | null = null;

  /** `afterCommit` hears of each group committed (the background checkpoints follow commits). */
  constructor(
    private readonly database: SqliteDatabase.Database,
    private readonly walSync: WalSync | null = null,
    private readonly afterCommit: () => void = () => undefined,
  ) {
    if (walSync !== null) this.level = Number(database.pragma("synchronous", { simple: true }));
    // Called inside the group's transaction, a transaction function opens a savepoint.
    const inSavepoint = database.transaction((work: () => unknown) => work());
    this.commitGroup = database.transaction((writes: PendingWrite[]) =>
      writes.map((write) => {
        try {
          return { ok: true, value: inSavepoint(write.work) };
        } catch (error) {
          return { ok: false, error };
        }
      }),
    );
    // Writes throw only on faults, so a group first runs without savepoints (two statements
    // fewer per write); if any write throws, that attempt is rolled back whole and the group
    // runs again with a savepoint around each write.
    this.commitGroupDirectly = database.transaction((writes: PendingWrite[]) =>
      writes.map((write) => {
        try {
          return { ok: true, value: write.work() };
        } catch (error) {
          throw new WriteFailed(error);
        }
      }),
    );
  }

  /**
   * Runs `work` (synchronous statements, usually a better-sqlite3 transaction function) inside the
   * next group's transaction; resolves with its result once the group is on disk, or, with
   * "committed", as soon as it is committed.
   */
  submit<T>(work: () => T, wait: Durability = "on-disk"): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, wait, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const group = this.pending;
    this.pending = [];
    if (group.length === 0) return;
    let outcomes: unknown[];
    const started = performance.now();
    // SQLite applies this pragma when it is compiled, so it cannot be a prepared statement.
    if (this.level !== null) this.database.exec("PRAGMA synchronous = NORMAL");
    try {
      try {
        outcomes = this.commitGroupDirectly.immediate(group);
      } catch (error) {
        if (!(error instanceof WriteFailed)) throw error;
        outcomes = this.commitGroup.immediate(group);
      }
      this.busyMs += performance.now() - started;
    } catch (error) {
      // The commit itself failed (disk full, I/O error): nothing of the group was written.
      for (const write of group) write.reject(error);
      return;
    } finally {
      if (this.level !== null) this.database.exec(`PRAGMA synchronous = ${this.level}`);
    }
    this.commits += 1;
    this.writes += group.length;
    this.afterCommit();
    if (this.walSync === null) {
      settle(group, outcomes, () => true);
      return;
    }
    settle(group, outcomes, (write) => write.wait === "committed");
    // Nobody waits for the disk: the group's log frames become durable with the next flush, which
    // covers every frame written before it, so this group asks for none of its own.
    if (group.every((write) => write.wait === "committed")) return;
    this.walSync.sync().then(
      () => settle(group, outcomes, (write) => write.wait === "on-disk"),
      // Committed but perhaps not durable: no caller waiting for the disk is told its write is safe.
      (error: unknown) => {
        for (const write of group) if (write.wait === "on-disk") write.reject(error);
      },
    );
  }
}

/** Answers the writes of the group that `now` picks, each with its own outcome. */
function settle(group: readonly PendingWrite[], outcomes: readonly unknown[], now: (write: PendingWrite) => boolean): void {
  group.forEach((write, index) => {
    if (!now(write)) return;
    const outcome = outcomes[index] as { ok: true; value: unknown } | { ok: false; error: unknown };
    if (outcome.ok) write.resolve(outcome.value);
    else write.reject(outcome.error);
  });
}
