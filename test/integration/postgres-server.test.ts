import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres.ts";
import { runImagegate } from "../helpers/cli.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";
import { call, MODEL, startTestServer, waitForTerminal, type TestServer } from "../helpers/test-server.ts";

async function eventually(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error("the condition did not hold in time");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The server with DATABASE_URL: every piece of state in PostgreSQL, the API unchanged. */
describe("DATABASE_URL", () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let harness: TestServer;

  beforeAll(async () => {
    database = await createTestDatabase();
    // Through a proxy of the test's own, so the connection can be cut without touching PostgreSQL.
    const proxied = await TcpProxy.before(database.url, 5432);
    proxy = proxied.proxy;
    harness = await startTestServer({ DATABASE_URL: proxied.url, SANDBOX_LATENCY_MS: "0" });
  });
  afterAll(async () => {
    await harness.close();
    await proxy.close();
    await database.drop();
  });

  async function run(input: Record<string, unknown>, headers: Record<string, string> = {}) {
    const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
      key: harness.key,
      headers,
      body: { model: MODEL, input },
    });
    expect(created.status).toBe(200);
    return created.body.data.taskId;
  }

  it("runs a task to success, charges it once and shows what it cost", async () => {
    const before = (await call<number>(harness.baseUrl, "GET", "/api/v1/chat/credit", { key: harness.key })).body.data;
    const { record } = await waitForTerminal(harness.baseUrl, harness.key, await run({ prompt: "a banana in a database" }));
    expect([record.state, record.creditsConsumed]).toEqual(["success", 4]);
    const after = (await call<number>(harness.baseUrl, "GET", "/api/v1/chat/credit", { key: harness.key })).body.data;
    expect(before - after).toBe(4);
    const file = await fetch((JSON.parse(record.resultJson ?? "{}") as { resultUrls: string[] }).resultUrls[0] ?? "");
    expect(file.status).toBe(200);
  });

  it("answers a repeated Idempotency-Key with the first task, and a failed task costs nothing", async () => {
    const first = await run({ prompt: "once" }, { "Idempotency-Key": "pg-once" });
    expect(await run({ prompt: "once" }, { "Idempotency-Key": "pg-once" })).toBe(first);
    const { record } = await waitForTerminal(harness.baseUrl, harness.key, await run({ prompt: "[sandbox:fail] nope" }));
    expect([record.state, record.failCode, record.creditsConsumed]).toEqual(["fail", "PROVIDER_ERROR", 0]);
  });

  it("lets one server run on a database at a time, saying why", async () => {
    await expect(startTestServer({ DATABASE_URL: database.url })).rejects.toThrow(
      /another imagegate server already runs on this DATABASE_URL/,
    );
  });

  it("answers the 500 envelope while PostgreSQL cannot be reached, /readyz 503, and recovers by itself", async () => {
    proxy.cut();
    try {
      const refused = await call(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
        key: harness.key,
        body: { model: MODEL, input: { prompt: "during the outage" } },
      });
      expect(refused.status).toBe(500);
      expect(refused.body).toMatchObject({ code: 500, data: null });
      const ready = await call<{ checks: { name: string; ok: boolean }[] }>(harness.baseUrl, "GET", "/readyz");
      expect(ready.status).toBe(503);
      expect(ready.body.data.checks.find((check) => check.name === "database")?.ok).toBe(false);
    } finally {
      proxy.restore();
    }
    const { record } = await waitForTerminal(harness.baseUrl, harness.key, await run({ prompt: "after the outage" }));
    expect(record.state).toBe("success");
    expect((await call(harness.baseUrl, "GET", "/readyz")).status).toBe(200);
    // The cut ended the session that marked the server as the database's one; it takes it again.
    await eventually(async () => {
      const second = await startTestServer({ DATABASE_URL: database.url }).catch((error: unknown) => error);
      if (second instanceof Error) return /another imagegate server/.test(second.message);
      await (second as TestServer).close();
      return false;
    });
  });

});

describe("the CLI with DATABASE_URL", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  it("migrate applies the schema; the administration commands then work on PostgreSQL", async () => {
    const migrated = await runImagegate(["migrate"], { DATABASE_URL: database.url });
    expect([migrated.exitCode, migrated.stdout.trim()]).toEqual([0, "database schema up to date in PostgreSQL"]);
    const created = await runImagegate(["accounts", "create", "--name", "pg-acme"], { DATABASE_URL: database.url });
    expect(created.exitCode).toBe(0);
    const listed = await runImagegate(["accounts", "list", "--json"], { DATABASE_URL: database.url });
    expect((JSON.parse(listed.stdout) as { name: string }[]).map((account) => account.name)).toEqual(["pg-acme"]);
  }, 60_000);
});

describe("imagegate backup with the state elsewhere", () => {
  it("refuses, saying what to back up instead", async () => {
    const run = await runImagegate(["backup", "/tmp/imagegate-backup-never-written"], {
      DATABASE_URL: "postgres://postgres:postgres@127.0.0.1:5432/postgres",
    });
    expect(run.exitCode).toBe(1);
    expect(run.stderr.trim()).toBe(
      "imagegate: backup copies what lives in DATA_DIR, and this configuration keeps it elsewhere: DATABASE_URL keeps the state in PostgreSQL: back it up with pg_dump",
    );
  });
});
