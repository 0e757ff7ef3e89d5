import { ConfigError } from "../config-error.ts";
import { isShared, type Config } from "../config.ts";
import { openSqliteStore } from "../db/sqlite-store.ts";
import type { AccountRepository } from "../domain/accounts/account.ts";
import type { CallbackOutbox } from "../domain/callbacks/callback.ts";
import type { TaskRepository } from "../domain/tasks/ports.ts";
import type { TaskReports } from "../domain/tasks/reports.ts";
import type { UploadRepository } from "../domain/uploads/upload.ts";
import type { SoleServerLockEvents } from "../db/postgres/sole-server-lock.ts";
import type { CommitCounters } from "../observability/database-metrics.ts";

/**
 * Where the server's state lives, behind the domain's ports: the one place that chooses the
 * database from configuration, for the server and the CLI's administration commands alike.
 */
export interface Storage {
  accounts: AccountRepository;
  tasks: TaskRepository;
  reports: TaskReports;
  outbox: CallbackOutbox;
  uploads: UploadRepository;
  /** Resolves when the database answers; rejects with why not (for /readyz). */
  ping(): Promise<void>;
  /** The write path's counters for /metrics. */
  counters(): CommitCounters;
  /**
   * Makes callback deliveries leased by runs other than `runId` due now, where this process is
   * the only one sending from the database (a lease of another run is then one a crash left);
   * answers how many. Where many processes share the database, leases run out by themselves.
   */
  releaseLeasesOfEarlierRuns(runId: string, now: number): Promise<number>;
  close(): Promise<void>;
}

type StoragePorts = Pick<Storage, "accounts" | "tasks" | "reports" | "outbox" | "uploads">;

/** The repositories of a store, and nothing else of it. */
function portsOf(store: StoragePorts): StoragePorts {
  const { accounts, tasks, reports, outbox, uploads } = store;
  return { accounts, tasks, reports, outbox, uploads };
}

export interface StorageOptions {
  /** The server's long-running process, rather than a short command: checkpoints go to a thread. */
  server?: {
    onCheckpointFailure: (error: Error) => void;
    onCheckpointRecovery: () => void;
    /** What becomes of the PostgreSQL server's lock (see SoleServerLock). */
    lockEvents: SoleServerLockEvents;
  };
}

/**
 * Opens the configured database, migrated to the latest schema: PostgreSQL when DATABASE_URL is
 * set, else the embedded SQLite file under DATA_DIR.
 */
export async function openStorage(config: Config, options: StorageOptions = {}): Promise<Storage> {
  if (config.databaseUrl !== null) {
    // With a shared queue, processes split the work and any number may run; without one, each
    // server resumes every active task at start, so only one may use the database.
    return openPostgresStorage(config.databaseUrl, isShared(config) ? undefined : options.server);
  }
  const store = await openSqliteStore(
    config.dataDir,
    options.server === undefined
      ? {}
      : { backgroundCheckpoints: { onFailure: options.server.onCheckpointFailure, onRecovery: options.server.onCheckpointRecovery } },
  );
  return {
    ...portsOf(store),
    ping: async () => {
      store.handle.raw.prepare("select 1").get();
    },
    counters: store.counters,
    releaseLeasesOfEarlierRuns: (runId, now) => store.outbox.releaseOtherLeasesAsSoleProcess(runId, now),
    close: store.close,
  };
}

/** Commit counters exist only for SQLite's group commit; PostgreSQL shows zeros. */
const NO_COUNTERS: CommitCounters = {
  commits: 0,
  writes: 0,
  busyMs: 0,
  syncs: 0,
  syncMs: 0,
  checkpoints: 0,
  checkpointMs: 0,
  restartCheckpoints: 0,
  restartCheckpointMs: 0,
  logFrames: 0,
};

/**
 * `server`: the process runs tasks from this database with a queue of its own (no REDIS_URL). One
 * such server per database is all that is correct (each resumes every active task at start), so
 * it holds a session lock for its life and a second one refuses to start. Processes that share a
 * queue, and administration commands, take no lock.
 */
async function openPostgresStorage(databaseUrl: string, server: StorageOptions["server"]): Promise<Storage> {
  // Loaded only when configured: the embedded default needs none of it.
  const { openPostgresStore } = await import("../db/postgres/postgres-store.ts");
  const { SoleServerLock } = await import("../db/postgres/sole-server-lock.ts");
  const store = await openPostgresStore(databaseUrl, { applicationName: "imagegate" });
  let lock: Awaited<ReturnType<typeof SoleServerLock.acquire>> = null;
  if (server !== undefined) {
    lock = await SoleServerLock.acquire(databaseUrl, server.lockEvents).catch(async (error: unknown) => {
      await store.close();
      throw error;
    });
    if (lock === null) {
      await store.close();
      throw new ConfigError(
        "another imagegate server already runs on this DATABASE_URL without REDIS_URL; without a shared queue only one server may use a database (set REDIS_URL and URL_SIGNING_SECRET in every process to run several)",
      );
    }
  }
  return {
    ...portsOf(store),
    ping: async () => {
      await store.database.query("select 1");
    },
    counters: () => NO_COUNTERS,
    // Other processes may share the database: a lease of another run ends only by running out.
    releaseLeasesOfEarlierRuns: () => Promise.resolve(0),
    close: async () => {
      await lock?.close();
      await store.close();
    },
  };
}
