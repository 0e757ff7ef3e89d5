import { rm } from "node:fs/promises";
import { afterAll, beforeAll } from "vitest";
import { openPostgresStore, type PostgresStore } from "../../src/db/postgres/postgres-store.ts";
import { openSqliteStore } from "../../src/db/sqlite-store.ts";
import type { AccountRepository } from "../../src/domain/accounts/account.ts";
import type { CallbackOutbox } from "../../src/domain/callbacks/callback.ts";
import type { TaskRepository } from "../../src/domain/tasks/ports.ts";
import type { TaskReports } from "../../src/domain/tasks/reports.ts";
import type { UploadRepository } from "../../src/domain/uploads/upload.ts";
import { createTestDatabase, type TestDatabase } from "./postgres.ts";
import { temporaryDirectory } from "./test-server.ts";

/** The storage ports as one process holds them. */
export interface StoragePorts {
  tasks: TaskRepository;
  accounts: AccountRepository;
  outbox: CallbackOutbox;
  reports: TaskReports;
  uploads: UploadRepository;
}

/** Fresh, empty storage for one test, as the contract suites take it. */
export interface StorageFixture extends StoragePorts {
  /** The same ports over the same data as another process opens them. */
  another(): Promise<StoragePorts>;
  /** Closes every process's ports and forgets the data. */
  close(): Promise<void>;
}

export type OpenStorage = () => Promise<StorageFixture>;

/** The embedded store, in a temporary directory of its own for each test; another() opens the same file again. */
export const openSqliteStorage: OpenStorage = async () => {
  const directory = await temporaryDirectory("imagegate-contract-");
  const opened = [await openSqliteStore(directory)];
  return {
    ...(opened[0] as StoragePorts),
    another: async () => {
      const store = await openSqliteStore(directory);
      opened.push(store);
      return store;
    },
    close: async () => {
      for (const store of opened.reverse()) await store.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
};

const TABLES = "accounts, api_keys, tasks, credit_ledger, audit_log, callback_deliveries, callback_attempts, idempotency_keys, uploads";

/**
 * PostgreSQL storage on a database of the calling test file's own, created before its tests and
 * dropped after them; each test starts on emptied tables. Call at the top level of the file.
 */
export function postgresStorage(): OpenStorage {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });
  return async () => {
    if (database === undefined) throw new Error("postgresStorage() opens storage only inside the file's tests");
    const url = database.url;
    // Small pools: test files run side by side on a server other developers share.
    const open = () => openPostgresStore(url, { poolSize: 5, applicationName: "imagegate-test" });
    const first = await open();
    await first.database.query(`TRUNCATE ${TABLES} RESTART IDENTITY`);
    const opened: PostgresStore[] = [first];
    return {
      ...(first as StoragePorts),
      another: async () => {
        const store = await open();
        opened.push(store);
        return store;
      },
      close: async () => {
        await Promise.all(opened.map((store) => store.close()));
      },
    };
  };
}
