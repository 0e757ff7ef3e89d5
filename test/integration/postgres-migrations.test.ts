import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openPostgres, type PostgresDatabase } from "../../src/db/postgres/connection.ts";
import { MIGRATION_LOCK_KEY, POSTGRES_MIGRATIONS, migratePostgres } from "../../src/db/postgres/migrations.ts";
import { migrate, openSqlite } from "../../src/db/sqlite.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres.ts";

let database: TestDatabase;
const opened: PostgresDatabase[] = [];

/** A pool as one process has it. */
function process(): PostgresDatabase {
  const postgres = openPostgres(database.url, { poolSize: 2 });
  opened.push(postgres);
  return postgres;
}

beforeEach(async () => {
  database = await createTestDatabase();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((postgres) => postgres.close()));
  await database.drop();
});

async function appliedMigrations(postgres: PostgresDatabase): Promise<string[]> {
  const { rows } = await postgres.query<{ name: string }>("SELECT name FROM kysely_migration ORDER BY name");
  return rows.map((row) => row.name);
}

describe("PostgreSQL migrations", () => {
  it("applied by two processes starting together on a fresh database: both succeed, each migration applied once", async () => {
    const [first, second] = [process(), process()];
    const applied = await Promise.all([migratePostgres(first.pool), migratePostgres(second.pool)]);
    expect(applied.flat().sort()).toEqual([...POSTGRES_MIGRATIONS]);
    // One process found everything applied by the other.
    expect(applied.map((names) => names.length).sort()).toEqual([0, POSTGRES_MIGRATIONS.length]);
    expect(await appliedMigrations(first)).toEqual([...POSTGRES_MIGRATIONS]);
    expect(await migratePostgres(second.pool)).toEqual([]);
  });

  it("wait for the advisory lock another process holds, and apply nothing before it is released", async () => {
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
      const migrating = process();
      let settled = false;
      const migration = migratePostgres(migrating.pool).finally(() => {
        settled = true;
      });
      // Until the migrating process is seen waiting for the lock (or, wrongly, has finished).
      for (;;) {
        const { rows } = await holder.query<{ waiting: string }>(
          "SELECT count(*) AS waiting FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1",
          [MIGRATION_LOCK_KEY],
        );
        if (Number(rows[0]?.waiting) > 0 || settled) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(settled).toBe(false);
      const { rows } = await holder.query("SELECT to_regclass('tasks') AS tasks");
      expect(rows[0]).toEqual({ tasks: null });
      await holder.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
      expect(await migration).toEqual([...POSTGRES_MIGRATIONS]);
    } finally {
      await holder.end();
    }
  });

  it("make the same tables and columns as the SQLite schema", async () => {
    const postgres = process();
    await migratePostgres(postgres.pool);
    const { rows } = await postgres.query<{ table_name: string; column_name: string }>(
      `SELECT table_name, column_name FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name NOT LIKE 'kysely_%' ORDER BY table_name, column_name`,
    );
    const sqlite = openSqlite(":memory:");
    try {
      await migrate(sqlite.db);
      const tables = sqlite.raw
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'kysely_%' AND name NOT LIKE 'sqlite_%'")
        .pluck()
        .all() as string[];
      const columns = tables.flatMap((table) =>
        (sqlite.raw.pragma(`table_info(${table})`) as { name: string }[]).map((column) => `${table}.${column.name}`),
      );
      expect(rows.map((row) => `${row.table_name}.${row.column_name}`).sort()).toEqual(columns.sort());
    } finally {
      await sqlite.close();
    }
  });
});
