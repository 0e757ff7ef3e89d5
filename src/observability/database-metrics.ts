import { Counter, Gauge, type Registry } from "prom-client";

export interface CommitCounters {
  readonly commits: number;
  readonly writes: number;
  /** Milliseconds the event loop spent running write groups. */
  readonly busyMs: number;
  /** Flushes of the write-ahead log made off the event loop, and their milliseconds. */
  readonly syncs: number;
  readonly syncMs: number;
  /** Checkpoints made off the event loop, their milliseconds, and the log's frames after the last commit. */
  readonly checkpoints: number;
  readonly checkpointMs: number;
  /** Checkpoints of a long log's last frames on the event loop, and their milliseconds. */
  readonly restartCheckpoints: number;
  readonly restartCheckpointMs: number;
  readonly logFrames: number;
}

type CounterField = Exclude<keyof CommitCounters, "logFrames">;

/** The database's own counters, read at each scrape: [name, help, field, divisor to the unit]. */
const COUNTERS: readonly [string, string, CounterField, number][] = [
  ["imagegate_database_commits_total", "Write groups committed, each in one transaction.", "commits", 1],
  ["imagegate_database_writes_total", "Writes carried by those commits (group commit shares one among many).", "writes", 1],
  ["imagegate_database_commit_seconds_total", "Time the event loop spent running write groups.", "busyMs", 1000],
  [
    "imagegate_database_syncs_total",
    "Flushes of the write-ahead log to disk, off the event loop; one serves every group committed while the previous one ran.",
    "syncs",
    1,
  ],
  ["imagegate_database_sync_seconds_total", "Time spent in those flushes.", "syncMs", 1000],
  [
    "imagegate_database_checkpoints_total",
    "Checkpoints of the write-ahead log into the database file, made off the event loop.",
    "checkpoints",
    1,
  ],
  ["imagegate_database_checkpoint_seconds_total", "Time spent in those checkpoints.", "checkpointMs", 1000],
  [
    "imagegate_database_log_restart_checkpoints_total",
    "Checkpoints of a long log's last pages on the event loop, so that the log starts over.",
    "restartCheckpoints",
    1,
  ],
  [
    "imagegate_database_log_restart_checkpoint_seconds_total",
    "Time the event loop spent in those checkpoints.",
    "restartCheckpointMs",
    1000,
  ],
];

/** Commit, sync and checkpoint figures of the database, read from its counters when scraped. */
export function registerDatabaseMetrics(registry: Registry, read: () => CommitCounters): void {
  // Each family reads the counters afresh: they are plain fields, so a read costs next to nothing.
  for (const [name, help, field, divisor] of COUNTERS) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read()[field] / divisor);
      },
    });
  }
  new Gauge({
    name: "imagegate_database_log_frames",
    help: "Pages in the write-ahead log after the last commit; it starts over once a checkpoint has copied them all.",
    registers: [registry],
    collect() {
      this.set(read().logFrames);
    },
  });
}
