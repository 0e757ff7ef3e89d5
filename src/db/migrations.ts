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
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
};
