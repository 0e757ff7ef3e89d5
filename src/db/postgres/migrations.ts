import { Kysely, Migrator, PostgresDialect, sql, type Migration, type MigrationProvider } from "kysely";
import type pg from "pg";
import { isConnectionError, mapError, onOwnConnection } from "./connection.ts";

/*
 * The PostgreSQL schema: the tables and columns of the SQLite schema (src/db/migrations.ts), in
 * PostgreSQL's types: bigint for epoch milliseconds and credits, integer for counts, text for the
 * rest. Identifiers and paths compare bytewise (COLLATE "C") whatever the database's locale: ids
 * sort by creation time only so, and an upload's folder test reads '/' < '0'. Migrations live in
 * code so one build carries everything it needs; names sort in apply order, and a migration once
 * released never changes: a change is a new migration.
 */
const migrations: Record<string, Migration> = {
  "0001_accounts_keys_ledger_audit": {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`
        CREATE TABLE accounts (
          id text COLLATE "C" PRIMARY KEY,
          name text NOT NULL UNIQUE,
          created_at bigint NOT NULL,
          -- Remaining credits, holds of active tasks deducted: never below zero.
          credits bigint NOT NULL DEFAULT 0 CHECK (credits >= 0),
          active_task_limit integer,
          rate_limit_create_task text,
          rate_limit_other text,
          webhook_secret text,
          -- Non-terminal tasks, moved in the transactions that create and settle them.
          active_tasks integer NOT NULL DEFAULT 0 CHECK (active_tasks >= 0)
        )`.execute(db);
      await sql`
        CREATE TABLE api_keys (
          id text COLLATE "C" PRIMARY KEY,
          account_id text COLLATE "C" NOT NULL REFERENCES accounts (id),
          mode text NOT NULL CHECK (mode IN ('live', 'test')),
          hash text NOT NULL UNIQUE,
          hint text NOT NULL,
          created_at bigint NOT NULL,
          revoked_at bigint
        )`.execute(db);
      await sql`CREATE INDEX api_keys_account ON api_keys (account_id)`.execute(db);
      await sql`
        CREATE TABLE credit_ledger (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          account_id text COLLATE "C" NOT NULL REFERENCES accounts (id),
          task_id text COLLATE "C",
          kind text NOT NULL CHECK (kind IN ('grant', 'deduct', 'hold', 'capture', 'release')),
          amount bigint NOT NULL,
          balance_after bigint NOT NULL,
          reason text,
          actor text,
          created_at bigint NOT NULL
        )`.execute(db);
      await sql`CREATE INDEX credit_ledger_account ON credit_ledger (account_id, id)`.execute(db);
      // A task is held, captured and released at most once each, and never both captured and
      // released: the database refuses a second settlement even if the code attempted one.
      await sql`CREATE UNIQUE INDEX credit_ledger_task_kind ON credit_ledger (task_id, kind) WHERE task_id IS NOT NULL`.execute(db);
      await sql`CREATE UNIQUE INDEX credit_ledger_task_settlement ON credit_ledger (task_id) WHERE kind IN ('capture', 'release')`.execute(db);
      await sql`
        CREATE TABLE audit_log (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          at bigint NOT NULL,
          actor text NOT NULL,
          action text NOT NULL,
          target text NOT NULL,
          details text NOT NULL
        )`.execute(db);
    },
  },
  "0002_tasks_idempotency": {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`
        CREATE TABLE tasks (
          id text COLLATE "C" PRIMARY KEY,
          account_id text COLLATE "C" NOT NULL REFERENCES accounts (id),
          api_key_id text COLLATE "C",
          mode text NOT NULL CHECK (mode IN ('live', 'test')),
          model text NOT NULL,
          state text NOT NULL CHECK (state IN ('waiting', 'queuing', 'generating', 'success', 'fail')),
          param text NOT NULL,
          input text NOT NULL,
          callback_url text,
          result_json text,
          fail_code text,
          fail_msg text,
          create_time bigint NOT NULL,
          update_time bigint NOT NULL,
          complete_time bigint,
          deadline_time bigint NOT NULL,
          attempts integer NOT NULL DEFAULT 0,
          upstream_attempts integer NOT NULL DEFAULT 0,
          credits_held bigint NOT NULL DEFAULT 0
        )`.execute(db);
      // A task's id begins with its creation time, so (account_id, id) lists an account's tasks
      // by creation and bounds them by time.
      await sql`CREATE INDEX tasks_account_id ON tasks (account_id, id)`.execute(db);
      // Only non-terminal tasks: recovery and the deadline sweep read this small set, however
      // many finished tasks the table holds.
      await sql`CREATE INDEX tasks_active_deadline ON tasks (deadline_time) WHERE state IN ('waiting', 'queuing', 'generating')`.execute(db);
      await sql`
        CREATE TABLE idempotency_keys (
          account_id text COLLATE "C" NOT NULL,
          key text NOT NULL,
          request_hash text NOT NULL,
          task_id text COLLATE "C",
          created_at bigint NOT NULL,
          expires_at bigint NOT NULL,
          CONSTRAINT idempotency_keys_pk PRIMARY KEY (account_id, key)
        )`.execute(db);
      await sql`CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at)`.execute(db);
    },
  },
  "0003_callbacks": {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`
        CREATE TABLE callback_deliveries (
          id text COLLATE "C" PRIMARY KEY,
          task_id text COLLATE "C" NOT NULL,
          account_id text COLLATE "C" NOT NULL,
          url text NOT NULL,
          payload text NOT NULL,
          state text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
          attempts integer NOT NULL DEFAULT 0,
          next_attempt_at bigint NOT NULL,
          created_at bigint NOT NULL,
          updated_at bigint NOT NULL,
          delivered_at bigint,
          last_status integer,
          last_error text,
          -- The sender run holding the delivery's lease; null when not leased.
          lease_owner text
        )`.execute(db);
      await sql`CREATE INDEX callback_deliveries_due ON callback_deliveries (next_attempt_at) WHERE state = 'pending'`.execute(db);
      await sql`CREATE INDEX callback_deliveries_task ON callback_deliveries (task_id)`.execute(db);
      await sql`
        CREATE TABLE callback_attempts (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          delivery_id text COLLATE "C" NOT NULL,
          at bigint NOT NULL,
          status integer,
          duration_ms integer NOT NULL,
          error text
        )`.execute(db);
      await sql`CREATE INDEX callback_attempts_delivery ON callback_attempts (delivery_id, id)`.execute(db);
    },
  },
  "0004_uploads": {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`
        CREATE TABLE uploads (
          account_id text COLLATE "C" NOT NULL,
          file_path text COLLATE "C" NOT NULL,
          bytes bigint NOT NULL,
          mime_type text NOT NULL,
          created_at bigint NOT NULL,
          expires_at bigint NOT NULL,
          CONSTRAINT uploads_pk PRIMARY KEY (account_id, file_path)
        )`.execute(db);
      await sql`CREATE INDEX uploads_expires ON uploads (expires_at)`.execute(db);
    },
  },
  "0005_tasks_listed_by_state_and_model": {
    async up(db: Kysely<unknown>): Promise<void> {
      // An account's tasks listed newest first by state or by model (see the SQLite migration of
      // the same name): without these a filter reads past every task that does not match.
      await sql`CREATE INDEX tasks_account_state_id ON tasks (account_id, state, id)`.execute(db);
      await sql`CREATE INDEX tasks_account_model_id ON tasks (account_id, model, id)`.execute(db);
    },
  },
  "0006_key_names_and_last_use": {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`ALTER TABLE api_keys ADD COLUMN name text`.execute(db);
      // When the key was last used, to the minute: written after requests, not by them.
      await sql`ALTER TABLE api_keys ADD COLUMN last_used_at bigint`.execute(db);
    },
  },
};

export const postgresMigrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
};

/** The names of every migration, in apply order. */
export const POSTGRES_MIGRATIONS: readonly string[] = Object.keys(migrations).sort();

/**
 * The session advisory lock every migrating process takes first: an arbitrary constant of this
 * application ("imgg" in ASCII), so it meets no other application's lock in a shared database.
 */
export const MIGRATION_LOCK_KEY = 0x696d6767;

/** A pool of one connection, already taken, for Kysely to run the migrations on. */
function onlyClient(client: pg.PoolClient) {
  return {
    connect: () => Promise.resolve({ query: client.query.bind(client), release: () => undefined }),
    end: () => Promise.resolve(),
  };
}

/**
 * Applies the migrations not yet applied, and answers their names. Processes starting together
 * all call this: each first takes the advisory lock on a connection of its own and holds it to
 * the end, so one migrates while the others wait, and those then find nothing left to apply.
 * Everything, the migration table's creation included, runs on that connection, in one
 * transaction: a failure leaves the schema as it was. A lost connection ends its session and so
 * frees the lock for the next process.
 */
export async function migratePostgres(pool: pg.Pool): Promise<string[]> {
  return onOwnConnection(pool, async (client, markBroken) => {
    try {
      await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
      try {
        const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: onlyClient(client) }) });
        const { error, results } = await new Migrator({ db, provider: postgresMigrationProvider }).migrateToLatest();
        const failed = results?.find((result) => result.status === "Error");
        if (error !== undefined || failed !== undefined) {
          if (isConnectionError(error)) throw error;
          throw new Error(`PostgreSQL migration ${failed?.migrationName ?? ""} failed`, { cause: error });
        }
        return (results ?? []).filter((result) => result.status === "Success").map((result) => result.migrationName);
      } finally {
        await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(markBroken);
      }
    } catch (error) {
      if (isConnectionError(error)) markBroken(error as Error);
      throw mapError(error);
    }
  });
}
