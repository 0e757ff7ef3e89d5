import http from "node:http";
import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { call, startTestServer, type TestServer } from "../helpers/test-server.ts";

const ADMIN_KEY = "admin-key-for-tests-0123456789abcdef";

interface Answer {
  status: number;
  body: { code: number; msg: string; data: unknown };
  headers: http.IncomingHttpHeaders;
  /** Whether the request went over a connection that earlier requests used. */
  reused: boolean;
}

/** Requests one after another over a single keep-alive connection. */
class OneConnection {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(private readonly baseUrl: string) {}

  get(route: string, headers: Record<string, string>): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const request = http.request(`${this.baseUrl}${route}`, { agent: this.agent, headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          resolve({
            status: response.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as Answer["body"],
            headers: response.headers,
            reused: request.reusedSocket,
          });
        });
      });
      request.on("error", reject);
      request.end();
    });
  }

  credit(key: string): Promise<Answer> {
    return this.get("/api/v1/chat/credit", { Authorization: `Bearer ${key}` });
  }

  close(): void {
    this.agent.destroy();
  }
}

async function adminCall(harness: TestServer, method: string, route: string, body?: unknown) {
  const answer = await call<unknown>(harness.baseUrl, method, `/admin/v1${route}`, { key: ADMIN_KEY, ...(body === undefined ? {} : { body }) });
  if (answer.status !== 200) throw new Error(`${method} ${route} answered ${answer.status}: ${answer.body.msg}`);
  return answer.body.data;
}

async function keyIdOf(harness: TestServer, account: string): Promise<string> {
  const keys = (await adminCall(harness, "GET", `/keys?account=${account}`)) as { id: string }[];
  return keys[0]?.id ?? "";
}

describe("a key proven on a keep-alive connection", () => {
  let harness: TestServer;
  let connection: OneConnection;
  let accountNumber = 0;
  let account: string;
  let key: string;

  beforeAll(async () => {
    harness = await startTestServer({ ADMIN_API_KEY: ADMIN_KEY });
  });
  afterAll(async () => {
    await harness.close();
  });
  beforeEach(async () => {
    accountNumber += 1;
    account = `keepalive${accountNumber}`;
    key = await harness.newAccountKey(account, "live", 700 + accountNumber);
    connection = new OneConnection(harness.baseUrl);
    const first = await connection.credit(key);
    expect(first).toMatchObject({ status: 200, reused: false, body: { data: 700 + accountNumber } });
  });
  afterEach(() => {
    connection.close();
  });

  it("is still asked for on every request: the same connection without the header answers 401", async () => {
    const answer = await connection.get("/api/v1/chat/credit", {});
    expect(answer).toMatchObject({ status: 401, reused: true });
    expect(answer.body).toEqual({ code: 401, msg: "Authentication failed: send the header Authorization: Bearer <api key>.", data: null });
  });

  it("answers 401 on the same connection once the key is revoked through the admin API", async () => {
    await adminCall(harness, "POST", `/keys/${await keyIdOf(harness, account)}/revoke`);
    const answer = await connection.credit(key);
    expect(answer).toMatchObject({ status: 401, reused: true });
    expect(answer.body.msg).toBe("Authentication failed: the API key is malformed, unknown or revoked.");
  });

  it("answers 401 on the same connection once another process revokes the key", async () => {
    const keyId = await keyIdOf(harness, account);
    const other = new SqliteDatabase(path.join(harness.dataDir, "imagegate.db"));
    try {
      other.pragma("busy_timeout = 5000");
      expect(other.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ?").run(Date.now(), keyId).changes).toBe(1);
    } finally {
      other.close();
    }
    expect(await connection.credit(key)).toMatchObject({ status: 401, reused: true });
  });

  it("answers 401 for a wrong key of the same length on the same connection, and the right key after it", async () => {
    const wrong = `${key.slice(0, -1)}${key.endsWith("A") ? "B" : "A"}`;
    expect(await connection.credit(wrong)).toMatchObject({ status: 401, reused: true });
    expect(await connection.credit(key)).toMatchObject({ status: 200, reused: true, body: { data: 700 + accountNumber } });
  });

  it("serves another account's key on the same connection as that account", async () => {
    const otherKey = await harness.newAccountKey(`${account}b`, "live", 5);
    expect(await connection.credit(otherKey)).toMatchObject({ status: 200, reused: true, body: { data: 5 } });
    expect(await connection.credit(key)).toMatchObject({ status: 200, reused: true, body: { data: 700 + accountNumber } });
  });

  it("follows limits changed meanwhile on the same connection", async () => {
    await adminCall(harness, "PUT", `/accounts/${account}/limits`, { other: "2/60s" });
    const statuses: number[] = [];
    for (let index = 0; index < 3; index += 1) {
      const answer = await connection.credit(key);
      expect(answer.reused).toBe(true);
      statuses.push(answer.status);
      if (index === 0) expect(answer.headers["ratelimit-policy"]).toBe('"other";q=2;w=60');
    }
    expect(statuses).toEqual([200, 200, 429]);
  });
});
