import type { Config } from "../config.ts";
import { openSqliteStore } from "../db/sqlite-store.ts";
import type { AccountRepository } from "../domain/accounts/account.ts";
import type { CallbackOutbox } from "../domain/callbacks/callback.ts";
import type { TaskRepository } from "../domain/tasks/ports.ts";
import type { TaskReports } from "../domain/tasks/reports.ts";
import type { UploadRepository } from "../domain/uploads/upload.ts";
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

export interface StorageOptions {
  /** The server's long-running process, rather than a short command: checkpoints go to a thread. */
  server?: {
    onCheckpointFailure: (error: Error) => void;
    onCheckpointRecovery: () => void;
  };
}

/** Opens the configured database, migrated to the latest schema: today the embedded SQLite file. */
export async function openStorage(config: Config, options: StorageOptions = {}): Promise<Storage> {
  const store = await openSqliteStore(
    config.dataDir,
    options.server === undefined
      ? {}
      : { backgroundCheckpoints: { onFailure: options.server.onCheckpointFailure, onRecovery: options.server.onCheckpointRecovery } },
  );
  return {
    accounts: store.accounts,
    tasks: store.tasks,
    reports: store.reports,
    outbox: store.outbox,
    uploads: store.uploads,
    ping: async () => {
      store.handle.raw.prepare("select 1").get();
    },
    counters: store.counters,
    releaseLeasesOfEarlierRuns: (runId, now) => store.outbox.releaseOtherLeasesAsSoleProcess(runId, now),
    close: store.close,
  };
}
