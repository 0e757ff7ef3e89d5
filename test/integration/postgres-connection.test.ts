import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DatabaseUnavailableError, openPostgres, type PostgresDatabase } from "../../src/db/postgres/connection.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";

let database: TestDatabase;
let proxy: TcpProxy;
let postgres: PostgresDatabase;
const idleErrors: Error[] = [];

beforeEach(async () => {
  database = await createTestDatabase();
  const proxied = await TcpProxy.before(database.url, 5432);
  proxy = proxied.proxy;
  postgres = openPostgres(proxied.url, { poolSize: 2, onIdleError: (error) => idleErrors.push(error) });
  await postgres.query("CREATE TABLE notes (id integer PRIMARY KEY, at bigint NOT NULL)");
});

afterEach(async () => {
  await postgres.close();
  await proxy.close();
  await database.drop();
});

describe("a PostgreSQL connection", () => {
  it("reads bigint as a number", async () => {
    await postgres.query("INSERT INTO notes (id, at) VALUES (1, $1)", [1_800_000_000_000]);
    const { rows } = await postgres.query("SELECT at, count(*) AS count, sum(at) AS total FROM notes GROUP BY at");
    expect(rows).toEqual([{ at: 1_800_000_000_000, count: 1, total: 1_800_000_000_000 }]);
  });

  it("lost: a statement fails with DatabaseUnavailableError, the process lives on, and service resumes once the server is back", async () => {
    await postgres.query("INSERT INTO notes (id, at) VALUES (1, 1)");
    proxy.cut();
    const failure = await postgres.query("SELECT count(*) FROM notes").catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DatabaseUnavailableError);
    // Nothing in it names an HTTP status: the API's error handler answers a 500 envelope.
    expect((failure as { statusCode?: unknown }).statusCode).toBeUndefined();
    expect((failure as Error).message).toMatch(/^PostgreSQL is unavailable: /);

    proxy.restore();
    const { rows } = await postgres.query<{ count: number }>("SELECT count(*) AS count FROM notes");
    expect(rows).toEqual([{ count: 1 }]);
  });

  it("lost in the middle of a transaction: it fails, nothing of it is written, and the next transaction works", async () => {
    const failure = await postgres
      .transaction(async (client) => {
        await client.query("INSERT INTO notes (id, at) VALUES (1, 1)");
        proxy.cut();
        await client.query("INSERT INTO notes (id, at) VALUES (2, 2)");
      })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DatabaseUnavailableError);
    proxy.restore();
    await postgres.transaction(async (client) => {
      await client.query("INSERT INTO notes (id, at) VALUES (3, 3)");
    });
    const { rows } = await postgres.query<{ id: number }>("SELECT id FROM notes ORDER BY id");
    expect(rows).toEqual([{ id: 3 }]);
  });

  it("rolls a transaction back when its work throws, and keeps the connection", async () => {
    const failure = await postgres
      .transaction(async (client) => {
        await client.query("INSERT INTO notes (id, at) VALUES (1, 1)");
        await client.query("INSERT INTO notes (id, at) VALUES (1, 1)");
      })
      .catch((error: unknown) => error);
    expect(failure).not.toBeInstanceOf(DatabaseUnavailableError);
    expect((failure as { code?: string }).code).toBe("23505");
    const { rows } = await postgres.query("SELECT id FROM notes");
    expect(rows).toEqual([]);
  });

  it("refused: a statement fails with DatabaseUnavailableError rather than waiting", async () => {
    proxy.cut();
    await expect(postgres.transaction(async () => undefined)).rejects.toBeInstanceOf(DatabaseUnavailableError);
  });
});
