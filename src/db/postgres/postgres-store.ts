import { openPostgres, type PostgresDatabase, type PostgresOptions } from "./connection.ts";
import { migratePostgres } from "./migrations.ts";
import { PostgresAccountRepository } from "./postgres-account-repository.ts";
import { PostgresCallbackOutbox } from "./postgres-callback-outbox.ts";
import { PostgresReports } from "./postgres-reports.ts";
import { PostgresTaskRepository } from "./postgres-task-repository.ts";
import { PostgresUploadRepository } from "./postgres-upload-repository.ts";

export interface PostgresStore {
  database: PostgresDatabase;
  accounts: PostgresAccountRepository;
  tasks: PostgresTaskRepository;
  reports: PostgresReports;
  outbox: PostgresCallbackOutbox;
  uploads: PostgresUploadRepository;
  close(): Promise<void>;
}

/**
 * Every storage port on the PostgreSQL database at `databaseUrl`, migrated to the latest schema
 * first (under the migration lock, so processes starting together may all call this).
 */
export async function openPostgresStore(databaseUrl: string, options: PostgresOptions = {}): Promise<PostgresStore> {
  const database = openPostgres(databaseUrl, options);
  try {
    await migratePostgres(database.pool);
  } catch (error) {
    await database.close();
    throw error;
  }
  return {
    database,
    accounts: new PostgresAccountRepository(database),
    tasks: new PostgresTaskRepository(database),
    reports: new PostgresReports(database),
    outbox: new PostgresCallbackOutbox(database),
    uploads: new PostgresUploadRepository(database),
    close: () => database.close(),
  };
}
