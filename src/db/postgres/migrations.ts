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
  "0005_create_tasks_function": {
    async up(db: Kysely<unknown>): Promise<void> {
      // createTask's group commit (src/db/postgres/postgres-task-repository.ts): the tasks created
      // at once in one process, stored by one call in one transaction, each admitted on its own
      // as one statement would (see the function's comments).
      await sql`
        CREATE FUNCTION create_tasks(batch json) RETURNS text[] LANGUAGE plpgsql AS $$
        DECLARE
          -- The admission columns of the batch's tasks, sorted by account, then by position (i).
          positions integer[];
          account_ids text[];
          prices bigint[];
          limits integer[];
          size integer;
          -- By position: 'created', 'ACTIVE_LIMIT' or 'INSUFFICIENT_CREDITS', and each hold's balance after it.
          outcomes text[];
          balances bigint[];
          group_start integer := 1;
          group_end integer;
          group_size integer;
          group_price bigint;
          same_limit boolean;
          credits_left bigint;
          active integer;
        BEGIN
          SELECT array_agg(t.i ORDER BY t.account_id COLLATE "C", t.i), array_agg(t.account_id ORDER BY t.account_id COLLATE "C", t.i),
                 array_agg(t.price ORDER BY t.account_id COLLATE "C", t.i), array_agg(t.active_limit ORDER BY t.account_id COLLATE "C", t.i)
            INTO positions, account_ids, prices, limits
            FROM json_to_recordset(batch) AS t(i integer, account_id text, price bigint, active_limit integer);
          size := coalesce(array_length(positions, 1), 0);
          outcomes := array_fill(NULL::text, ARRAY[size]);
          balances := array_fill(NULL::bigint, ARRAY[size]);
          -- Accounts are taken in one order by every batch, so batches of two processes never
          -- wait for each other's rows crosswise (a deadlock).
          WHILE group_start <= size LOOP
            group_end := group_start;
            group_price := prices[group_start];
            same_limit := true;
            WHILE group_end < size AND account_ids[group_end + 1] = account_ids[group_start] LOOP
              group_end := group_end + 1;
              group_price := group_price + prices[group_end];
              same_limit := same_limit AND limits[group_end] = limits[group_start];
            END LOOP;
            group_size := group_end - group_start + 1;
            -- When the account can take all its tasks of the batch, one guarded update takes them:
            -- the same as taking them one by one, in order, each under the limit and the balance.
            credits_left := NULL;
            IF same_limit THEN
              UPDATE accounts SET active_tasks = active_tasks + group_size, credits = credits - group_price
              WHERE id = account_ids[group_start] AND active_tasks + group_size <= limits[group_start] AND credits >= group_price
              RETURNING credits INTO credits_left;
            END IF;
            IF credits_left IS NOT NULL THEN
              credits_left := credits_left + group_price;
              FOR k IN group_start..group_end LOOP
                credits_left := credits_left - prices[k];
                balances[positions[k]] := credits_left;
                outcomes[positions[k]] := 'created';
              END LOOP;
            ELSE
              -- Otherwise one by one, in the order they came, as single creates would be taken.
              FOR k IN group_start..group_end LOOP
                credits_left := NULL;
                UPDATE accounts SET active_tasks = active_tasks + 1, credits = credits - prices[k]
                WHERE id = account_ids[k] AND active_tasks < limits[k] AND credits >= prices[k]
                RETURNING credits INTO credits_left;
                IF credits_left IS NOT NULL THEN
                  balances[positions[k]] := credits_left;
                  outcomes[positions[k]] := 'created';
                ELSE
                  SELECT active_tasks INTO active FROM accounts WHERE id = account_ids[k];
                  outcomes[positions[k]] := CASE WHEN active >= limits[k] THEN 'ACTIVE_LIMIT' ELSE 'INSUFFICIENT_CREDITS' END;
                END IF;
              END LOOP;
            END IF;
            group_start := group_end + 1;
          END LOOP;

          -- The admitted tasks' holds, rows and idempotency links, each table in one statement.
          WITH admitted AS (
            SELECT t.*, balances[t.i] AS balance_after
            FROM json_to_recordset(batch) AS t(i integer, id text, account_id text, api_key_id text, mode text, model text,
              state text, param text, input text, callback_url text, result_json text, fail_code text, fail_msg text,
              create_time bigint, update_time bigint, complete_time bigint, deadline_time bigint, attempts integer,
              upstream_attempts integer, price bigint, idempotency_key text)
            WHERE outcomes[t.i] = 'created'
          ), held AS (
            INSERT INTO credit_ledger (account_id, task_id, kind, amount, balance_after, reason, actor, created_at)
            SELECT account_id, id, 'hold', -price, balance_after, NULL, 'system', create_time FROM admitted
            WHERE price > 0 ORDER BY account_id, i
          ), stored AS (
            INSERT INTO tasks (id, account_id, api_key_id, mode, model, state, param, input, callback_url, result_json,
              fail_code, fail_msg, create_time, update_time, complete_time, deadline_time, attempts, upstream_attempts, credits_held)
            SELECT id, account_id, api_key_id, mode, model, state, param, input, callback_url, result_json,
              fail_code, fail_msg, create_time, update_time, complete_time, deadline_time, attempts, upstream_attempts, price
            FROM admitted
          )
          UPDATE idempotency_keys SET task_id = admitted.id FROM admitted
          WHERE admitted.idempotency_key IS NOT NULL AND idempotency_keys.account_id = admitted.account_id
            AND idempotency_keys.key = admitted.idempotency_key;
          RETURN outcomes;
        END
        $$`.execute(db);
    },
  },
  "0006_tasks_listed_by_state_and_model": {
    async up(db: Kysely<unknown>): Promise<void> {
      // An account's tasks listed newest first by state or by model (see the SQLite migration of
      // the same name): without these a filter reads past every task that does not match.
      await sql`CREATE INDEX tasks_account_state_id ON tasks (account_id, state, id)`.execute(db);
      await sql`CREATE INDEX tasks_account_model_id ON tasks (account_id, model, id)`.execute(db);
    },
  },
  "0007_key_names_and_last_use": {
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
