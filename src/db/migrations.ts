import { sql, type Kysely, type Migration, type MigrationProvider } from "kysely";

// Migrations live in code so one build carries everything it needs; names sort in apply order.
const migrations: Record<string, Migration> = {
  "0001_accounts_keys_tasks": {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable("accounts")
        .addColumn("id", "text", (column) => column.primaryKey())
        .addColumn("name", "text", (column) => column.notNull().unique())
        .addColumn("created_at", "bigint", (column) => column.notNull())
        .execute();
      await db.schema
        .createTable("api_keys")
        .addColumn("id", "text", (column) => column.primaryKey())
        .addColumn("account_id", "text", (column) => column.notNull().references("accounts.id"))
        .addColumn("mode", "text", (column) => column.notNull())
        .addColumn("hash", "text", (column) => column.notNull().unique())
        .addColumn("hint", "text", (column) => column.notNull())
        .addColumn("created_at", "bigint", (column) => column.notNull())
        .addColumn("revoked_at", "bigint")
        .execute();
      await db.schema.createIndex("api_keys_account").on("api_keys").column("account_id").execute();
      await db.schema
        .createTable("tasks")
        .addColumn("id", "text", (column) => column.primaryKey())
        .addColumn("account_id", "text", (column) => column.notNull().references("accounts.id"))
        .addColumn("api_key_id", "text")
        .addColumn("mode", "text", (column) => column.notNull())
        .addColumn("model", "text", (column) => column.notNull())
        .addColumn("state", "text", (column) => column.notNull())
        .addColumn("param", "text", (column) => column.notNull())
        .addColumn("input", "text", (column) => column.notNull())
        .addColumn("callback_url", "text")
        .addColumn("result_json", "text")
        .addColumn("fail_code", "text")
        .addColumn("fail_msg", "text")
        .addColumn("create_time", "bigint", (column) => column.notNull())
        .addColumn("update_time", "bigint", (column) => column.notNull())
        .addColumn("complete_time", "bigint")
        .addColumn("deadline_time", "bigint", (column) => column.notNull())
        .addColumn("attempts", "integer", (column) => column.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex("tasks_account_state").on("tasks").columns(["account_id", "state"]).execute();
      // Only non-terminal tasks are indexed here: recovery and the deadline sweep read this small
      // set, however many finished tasks the table holds.
      await db.schema
        .createIndex("tasks_active_deadline")
        .on("tasks")
        .column("deadline_time")
        .where(sql.ref("state"), "in", ["waiting", "queuing", "generating"])
        .execute();
    },
  },
  "0002_credits_limits_audit": {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable("accounts").addColumn("credits", "bigint", (column) => column.notNull().defaultTo(0)).execute();
      await db.schema.alterTable("accounts").addColumn("active_task_limit", "integer").execute();
      await db.schema.alterTable("accounts").addColumn("rate_limit_create_task", "text").execute();
      await db.schema.alterTable("accounts").addColumn("rate_limit_other", "text").execute();
      await db.schema.alterTable("tasks").addColumn("credits_held", "bigint", (column) => column.notNull().defaultTo(0)).execute();
      await db.schema
        .createTable("credit_ledger")
        .addColumn("id", "integer", (column) => column.primaryKey().autoIncrement())
        .addColumn("account_id", "text", (column) => column.notNull().references("accounts.id"))
        .addColumn("task_id", "text")
        .addColumn("kind", "text", (column) => column.notNull())
        .addColumn("amount", "bigint", (column) => column.notNull())
        .addColumn("balance_after", "bigint", (column) => column.notNull())
        .addColumn("reason", "text")
        .addColumn("actor", "text")
        .addColumn("created_at", "bigint", (column) => column.notNull())
        .execute();
      await db.schema.createIndex("credit_ledger_account").on("credit_ledger").columns(["account_id", "id"]).execute();
      // A task is held, captured and released at most once each, and never both captured and
      // released: the database refuses a second settlement even if the code attempted one.
      await db.schema
        .createIndex("credit_ledger_task_kind")
        .unique()
        .on("credit_ledger")
        .columns(["task_id", "kind"])
        .where(sql.ref("task_id"), "is not", null)
        .execute();
      await db.schema
        .createIndex("credit_ledger_task_settlement")
        .unique()
        .on("credit_ledger")
        .column("task_id")
        .where(sql.ref("kind"), "in", ["capture", "release"])
        .execute();
      await db.schema
        .createTable("audit_log")
        .addColumn("id", "integer", (column) => column.primaryKey().autoIncrement())
        .addColumn("at", "bigint", (column) => column.notNull())
        .addColumn("actor", "text", (column) => column.notNull())
        .addColumn("action", "text", (column) => column.notNull())
        .addColumn("target", "text", (column) => column.notNull())
        .addColumn("details", "text", (column) => column.notNull())
        .execute();
      await db.schema.createIndex("tasks_account_create").on("tasks").columns(["account_id", "create_time"]).execute();
      await db.schema.createIndex("tasks_create").on("tasks").column("create_time").execute();
    },
  },
  "0003_callbacks_idempotency": {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable("accounts").addColumn("webhook_secret", "text").execute();
      await db.schema
        .createTable("callback_deliveries")
        .addColumn("id", "text", (column) => column.primaryKey())
        .addColumn("task_id", "text", (column) => column.notNull())
        .addColumn("account_id", "text", (column) => column.notNull())
        .addColumn("url", "text", (column) => column.notNull())
        .addColumn("payload", "text", (column) => column.notNull())
        .addColumn("state", "text", (column) => column.notNull())
        .addColumn("attempts", "integer", (column) => column.notNull().defaultTo(0))
        .addColumn("next_attempt_at", "bigint", (column) => column.notNull())
        .addColumn("created_at", "bigint", (column) => column.notNull())
        .addColumn("updated_at", "bigint", (column) => column.notNull())
        .addColumn("delivered_at", "bigint")
        .addColumn("last_status", "integer")
        .addColumn("last_error", "text")
        .execute();
      await db.schema
        .createIndex("callback_deliveries_due")
        .on("callback_deliveries")
        .column("next_attempt_at")
        .where(sql.ref("state"), "=", "pending")
        .execute();
      await db.schema.createIndex("callback_deliveries_task").on("callback_deliveries").column("task_id").execute();
      await db.schema
        .createTable("callback_attempts")
        .addColumn("id", "integer", (column) => column.primaryKey().autoIncrement())
        .addColumn("delivery_id", "text", (column) => column.notNull())
        .addColumn("at", "bigint", (column) => column.notNull())
        .addColumn("status", "integer")
        .addColumn("duration_ms", "integer", (column) => column.notNull())
        .addColumn("error", "text")
        .execute();
      await db.schema.createIndex("callback_attempts_delivery").on("callback_attempts").columns(["delivery_id", "id"]).execute();
      await db.schema
        .createTable("idempotency_keys")
        .addColumn("account_id", "text", (column) => column.notNull())
        .addColumn("key", "text", (column) => column.notNull())
        .addColumn("request_hash", "text", (column) => column.notNull())
        .addColumn("task_id", "text")
        .addColumn("created_at", "bigint", (column) => column.notNull())
        .addColumn("expires_at", "bigint", (column) => column.notNull())
        .addPrimaryKeyConstraint("idempotency_keys_pk", ["account_id", "key"])
        .execute();
      await db.schema.createIndex("idempotency_keys_expires").on("idempotency_keys").column("expires_at").execute();
    },
  },
  "0004_active_task_counter": {
    async up(db: Kysely<unknown>): Promise<void> {
      // Counting an account's active tasks at every createTask grew with the count itself; the
      // counter moves in the same transactions that create and settle tasks.
      await db.schema
        .alterTable("accounts")
        .addColumn("active_tasks", "integer", (column) => column.notNull().defaultTo(0))
        .execute();
      await sql`UPDATE accounts SET active_tasks = (SELECT count(*) FROM tasks WHERE tasks.account_id = accounts.id AND tasks.state IN ('waiting', 'queuing', 'generating'))`.execute(db);
    },
  },
  "0005_drop_unused_task_index": {
    async up(db: Kysely<unknown>): Promise<void> {
      // Nothing reads tasks by (account, state) since the active counter; the index only cost
      // two updates per task.
      await db.schema.dropIndex("tasks_account_state").execute();
    },
  },
  "0006_tasks_listed_by_id": {
    async up(db: Kysely<unknown>): Promise<void> {
      // A task's id begins with its creation time (see newId), so the primary key already orders
      // tasks by creation and bounds them by time; the index on create_time was one more b-tree
      // written by every createTask. An account's tasks are listed through (account_id, id).
      await db.schema.dropIndex("tasks_create").execute();
      await db.schema.dropIndex("tasks_account_create").execute();
      await db.schema.createIndex("tasks_account_id").on("tasks").columns(["account_id", "id"]).execute();
    },
  },
  "0007_callback_lease_owner": {
    async up(db: Kysely<unknown>): Promise<void> {
      // A claimed delivery names the run of the server that claimed it, so that the embedded
      // server, the only process sending, can release at start the leases its previous run left
      // behind instead of waiting for them to expire. Null: not leased, or leased before this column.
      await db.schema.alterTable("callback_deliveries").addColumn("lease_owner", "text").execute();
    },
  },
  "0008_task_upstream_attempts": {
    async up(db: Kysely<unknown>): Promise<void> {
      // The upstream calls made for a task, counted across restarts, so a task resumed after
      // crashes spends GEMINI_MAX_ATTEMPTS in all rather than afresh at every start. Each start so
      // far was followed by at least one call; the retries after it were not counted.
      await db.schema
        .alterTable("tasks")
        .addColumn("upstream_attempts", "integer", (column) => column.notNull().defaultTo(0))
        .execute();
      await sql`UPDATE tasks SET upstream_attempts = attempts`.execute(db);
    },
  },
  "0009_uploads": {
    async up(db: Kysely<unknown>): Promise<void> {
      // Files accounts upload to use as inputs, one row per file path of an account: the row is
      // the quota's count and the retention sweep's list; the bytes live in the blob store.
      await db.schema
        .createTable("uploads")
        .addColumn("account_id", "text", (column) => column.notNull())
        .addColumn("file_path", "text", (column) => column.notNull())
        .addColumn("bytes", "integer", (column) => column.notNull())
        .addColumn("mime_type", "text", (column) => column.notNull())
        .addColumn("created_at", "bigint", (column) => column.notNull())
        .addColumn("expires_at", "bigint", (column) => column.notNull())
        .addPrimaryKeyConstraint("uploads_pk", ["account_id", "file_path"])
        .execute();
      await db.schema.createIndex("uploads_expires").on("uploads").column("expires_at").execute();
    },
  },
  "0010_tasks_listed_by_state_and_model": {
    async up(db: Kysely<unknown>): Promise<void> {
      // An account's tasks are listed newest first by state or by model. Through (account_id, id)
      // alone a filter reads past every task that does not match: all of a million when none does
      // (an account with no waiting task), half a second on the event loop. Each index costs every
      // createTask one more b-tree insert, and the state index every state change one more move.
      await db.schema.createIndex("tasks_account_state_id").on("tasks").columns(["account_id", "state", "id"]).execute();
      await db.schema.createIndex("tasks_account_model_id").on("tasks").columns(["account_id", "model", "id"]).execute();
    },
  },
  "0011_key_names_and_last_use": {
    async up(db: Kysely<unknown>): Promise<void> {
      // A name the account gives a key, and when it was last used: written at most once a minute
      // per key and process, after the request, so a request never waits for it.
      await db.schema.alterTable("api_keys").addColumn("name", "text").execute();
      await db.schema.alterTable("api_keys").addColumn("last_used_at", "bigint").execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
};
