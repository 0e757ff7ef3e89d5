import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, MODEL, startTestServer, waitForTerminal, type ApiAnswer, type TestServer } from "../helpers/test-server.ts";

const ADMIN_KEY = "admin-key-for-tests-0123456789abcdef";
const LIVE_KEY = /^ig_live_[A-Za-z0-9_-]{32}$/;
const TEST_KEY = /^ig_test_[A-Za-z0-9_-]{32}$/;
const ACCOUNT_ID = /^acct_[0-9a-z]{26}$/;
const KEY_ID = /^key_[0-9a-z]{26}$/;
const PRICE = 4;
const NO_LIMITS = { activeTasks: null, createTask: null, other: null };

interface AccountData {
  id: string;
  name: string;
  createdAt: number;
  credits: number;
  limits: { activeTasks: number | null; createTask: string | null; other: string | null };
}

interface KeyData {
  id: string;
  accountId: string;
  mode: "live" | "test";
  hint: string;
  createdAt: number;
  revokedAt: number | null;
  name: string | null;
  lastUsedAt: number | null;
  key?: string;
  replaces?: string;
}

interface AdminTaskData {
  taskId: string;
  state: string;
  accountId: string;
  accountName: string | null;
  createTime: number;
  creditsHeld: number;
  mode: string;
  param: string;
}

interface AuditData {
  at: number;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
}

function failureOf(status: number, msg: string): { code: number; msg: string; data: null } {
  return { code: status, msg, data: null };
}

function adminCall<T>(harness: TestServer, method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
  return call<T>(harness.baseUrl, method, `/admin/v1${path}`, { key: ADMIN_KEY, ...(body === undefined ? {} : { body }) });
}

async function adminData<T>(harness: TestServer, method: string, path: string, body?: unknown): Promise<T> {
  const answer = await adminCall<T>(harness, method, path, body);
  if (answer.status !== 200) throw new Error(`${method} ${path} answered ${answer.status}: ${answer.body.msg}`);
  return answer.body.data;
}

function createTask(harness: TestServer, key: string, prompt = "a lighthouse at dusk"): Promise<ApiAnswer<{ taskId: string } | null>> {
  return call<{ taskId: string } | null>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
    key,
    body: { model: MODEL, input: { prompt } },
  });
}

/** An account made through the admin API, with `credits` and one live key. */
async function accountWithKey(harness: TestServer, name: string, credits: number): Promise<{ account: AccountData; key: string }> {
  const account = await adminData<AccountData>(harness, "POST", "/accounts", { name });
  if (credits > 0) await adminData(harness, "POST", `/accounts/${name}/credits/grant`, { amount: credits, reason: "setup" });
  const created = await adminData<KeyData>(harness, "POST", `/accounts/${name}/keys`, {});
  return { account, key: created.key ?? "" };
}

describe("admin API", () => {
  let harness: TestServer;

  beforeAll(async () => {
    harness = await startTestServer({ ADMIN_API_KEY: ADMIN_KEY });
  });
  afterAll(async () => {
    await harness.close();
  });

  describe("authentication", () => {
    it("rejects a request without an Authorization header", async () => {
      const answer = await call(harness.baseUrl, "GET", "/admin/v1/accounts");
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual(failureOf(401, "Authentication failed: send the header Authorization: Bearer <admin key>."));
      expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="imagegate-admin"');
    });

    it("rejects a wrong admin key", async () => {
      const answer = await call(harness.baseUrl, "GET", "/admin/v1/accounts", { key: `${ADMIN_KEY}x` });
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual(failureOf(401, "Authentication failed: the admin key is not valid."));
    });

    it("rejects the admin key sent in another scheme than Bearer", async () => {
      const answer = await call(harness.baseUrl, "GET", "/admin/v1/accounts", { headers: { Authorization: `Basic ${ADMIN_KEY}` } });
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual(failureOf(401, "Authentication failed: the admin key is not valid."));
    });

    it("rejects an account's live key and its test key", async () => {
      const testKey = await harness.newAccountKey("alpha", "test");
      for (const key of [harness.key, testKey]) {
        const answer = await call(harness.baseUrl, "POST", "/admin/v1/accounts", { key, body: { name: "intruder" } });
        expect(answer.status).toBe(401);
        expect(answer.body).toEqual(
          failureOf(401, "Authentication failed: account API keys cannot use the admin API; send the admin key."),
        );
      }
      expect(await harness.server.accounts.findAccount("intruder")).toBeNull();
    });

    it("does not accept the admin key on the account API", async () => {
      const answer = await call(harness.baseUrl, "GET", "/api/v1/chat/credit", { key: ADMIN_KEY });
      expect(answer.status).toBe(401);
    });

    it("answers with the admin key and an X-Request-Id", async () => {
      const answer = await adminCall<AccountData[]>(harness, "GET", "/accounts");
      expect(answer.status).toBe(200);
      expect(answer.body.code).toBe(200);
      expect(answer.body.msg).toBe("success");
      expect(answer.headers.get("x-request-id")).toMatch(/^req_/);
    });

    it("describes every admin route in /openapi.json with the adminBearer scheme", async () => {
      const document = (await (await fetch(`${harness.baseUrl}/openapi.json`)).json()) as {
        components: { securitySchemes: Record<string, { type: string; scheme: string }> };
        paths: Record<string, Record<string, { tags: string[]; security: Record<string, string[]>[] }>>;
      };
      expect(document.components.securitySchemes.adminBearer).toMatchObject({ type: "http", scheme: "bearer" });
      const adminPaths = Object.keys(document.paths).filter((path) => path.startsWith("/admin/v1/"));
      expect(adminPaths.sort()).toEqual(
        [
          "/admin/v1/accounts",
          "/admin/v1/accounts/{account}",
          "/admin/v1/accounts/{account}/credits/deduct",
          "/admin/v1/accounts/{account}/credits/grant",
          "/admin/v1/accounts/{account}/keys",
          "/admin/v1/accounts/{account}/limits",
          "/admin/v1/accounts/{account}/webhook-secret",
          "/admin/v1/accounts/{account}/webhook-secret/rotate",
          "/admin/v1/audit",
          "/admin/v1/callbacks",
          "/admin/v1/callbacks/{deliveryId}",
          "/admin/v1/callbacks/{deliveryId}/redeliver",
          "/admin/v1/keys",
          "/admin/v1/keys/{keyId}/revoke",
          "/admin/v1/keys/{keyId}/rotate",
          "/admin/v1/tasks",
          "/admin/v1/tasks/{taskId}",
          "/admin/v1/upstreams",
          "/admin/v1/usage",
        ].sort(),
      );
      for (const path of adminPaths) {
        for (const operation of Object.values(document.paths[path] ?? {})) {
          expect(operation.tags).toEqual(["admin"]);
          expect(operation.security).toEqual([{ adminBearer: [] }]);
        }
      }
    });
  });

  describe("accounts", () => {
    it("POST /accounts creates an account with no credits and default limits", async () => {
      const answer = await adminCall<AccountData>(harness, "POST", "/accounts", { name: "bravo" });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({
        code: 200,
        msg: "success",
        data: { id: expect.stringMatching(ACCOUNT_ID), name: "bravo", createdAt: expect.any(Number), credits: 0, limits: NO_LIMITS },
      });
      expect((await harness.server.accounts.findAccount("bravo"))?.id).toBe(answer.body.data.id);
    });

    it("POST /accounts with a name already taken answers 409", async () => {
      const answer = await adminCall(harness, "POST", "/accounts", { name: "alpha" });
      expect(answer.status).toBe(409);
      expect(answer.body).toEqual(failureOf(409, "an account named alpha already exists"));
    });

    it("POST /accounts with an invalid name answers 422 naming the field", async () => {
      const answer = await adminCall(harness, "POST", "/accounts", { name: "no spaces" });
      expect(answer.status).toBe(422);
      expect(answer.body).toEqual(
        failureOf(422, "name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"),
      );
    });

    it("POST /accounts without a name, with an unknown field or without JSON answers 400 or 422", async () => {
      const missing = await adminCall(harness, "POST", "/accounts", {});
      expect(missing.status).toBe(400);
      expect(missing.body).toEqual(failureOf(400, "name is required and must be a string."));
      const unknown = await adminCall(harness, "POST", "/accounts", { name: "charlie", credits: 5 });
      expect(unknown.status).toBe(422);
      expect(unknown.body).toEqual(failureOf(422, "credits is not a known field; the accepted fields are name"));
      const notJson = await call(harness.baseUrl, "POST", "/admin/v1/accounts", {
        key: ADMIN_KEY,
        rawBody: "{name:",
        headers: { "Content-Type": "application/json" },
      });
      expect(notJson.status).toBe(400);
      expect(notJson.body).toEqual(failureOf(400, "The request body is not valid JSON."));
    });

    it("GET /accounts lists every account with its balance", async () => {
      const list = await adminData<AccountData[]>(harness, "GET", "/accounts");
      expect(list.find((account) => account.name === "alpha")).toEqual({
        id: harness.accountId,
        name: "alpha",
        createdAt: expect.any(Number),
        credits: 1_000_000,
        limits: NO_LIMITS,
      });
    });

    it("GET /accounts/:account shows the account by name or id, with keys (no hashes) and its ledger", async () => {
      const { account, key } = await accountWithKey(harness, "delta", 50);
      for (const reference of ["delta", account.id]) {
        const shown = await adminData<AccountData & { keys: KeyData[]; ledger: Record<string, unknown>[] }>(
          harness,
          "GET",
          `/accounts/${reference}`,
        );
        expect(shown).toMatchObject({ id: account.id, name: "delta", credits: 50, limits: NO_LIMITS });
        expect(shown.keys).toEqual([
          {
            id: expect.stringMatching(KEY_ID),
            accountId: account.id,
            mode: "live",
            hint: `${key.slice(0, 12)}…`,
            createdAt: expect.any(Number),
            revokedAt: null,
            name: null,
            lastUsedAt: null,
          },
        ]);
        expect(shown.ledger).toEqual([
          {
            id: expect.any(Number),
            taskId: null,
            kind: "grant",
            amount: 50,
            balanceAfter: 50,
            reason: "setup",
            actor: "admin-api",
            createdAt: expect.any(Number),
          },
        ]);
        expect(JSON.stringify(shown)).not.toContain(key.slice(12));
      }
    });

    it("GET /accounts/:account of an unknown account answers 404", async () => {
      const answer = await adminCall(harness, "GET", "/accounts/nobody");
      expect(answer.status).toBe(404);
      expect(answer.body).toEqual(failureOf(404, "no account named nobody"));
    });
  });

  describe("credits", () => {
    it("a grant lets the account create a task, which holds the price", async () => {
      const { key } = await accountWithKey(harness, "echo", 0);
      const before = await createTask(harness, key);
      expect(before.status).toBe(402);

      const granted = await adminCall(harness, "POST", "/accounts/echo/credits/grant", { amount: 10, reason: "welcome" });
      expect(granted.status).toBe(200);
      expect(granted.body.data).toEqual({ accountId: expect.stringMatching(ACCOUNT_ID), account: "echo", amount: 10, balance: 10 });

      const created = await createTask(harness, key);
      expect(created.status).toBe(200);
      const credit = await call<number>(harness.baseUrl, "GET", "/api/v1/chat/credit", { key });
      expect(credit.body.data).toBe(10 - PRICE);
    });

    it("a deduct lowers the balance; below zero it answers 409 and nothing changes", async () => {
      const { account } = await accountWithKey(harness, "foxtrot", 30);
      const deducted = await adminCall(harness, "POST", "/accounts/foxtrot/credits/deduct", { amount: 20, reason: "refund reversal" });
      expect(deducted.status).toBe(200);
      expect(deducted.body.data).toEqual({ accountId: account.id, account: "foxtrot", amount: 20, balance: 10 });

      const refused = await adminCall(harness, "POST", "/accounts/foxtrot/credits/deduct", { amount: 11, reason: "too much" });
      expect(refused.status).toBe(409);
      expect(refused.body).toEqual(failureOf(409, "cannot deduct 11: foxtrot has only 10 credits"));
      expect((await adminData<AccountData>(harness, "GET", "/accounts/foxtrot")).credits).toBe(10);
      expect(await harness.server.accounts.ledgerSum(account.id)).toBe(10);
    });

    it("rejects a bad amount or reason naming the field, and an unknown account with 404", async () => {
      const cases: [unknown, number, string][] = [
        [{ amount: 0, reason: "x" }, 422, "amount must be a whole number from 1 to 1000000000"],
        [{ amount: 1.5, reason: "x" }, 422, "amount must be a whole number from 1 to 1000000000"],
        [{ amount: "5", reason: "x" }, 400, "amount is required and must be a number."],
        [{ amount: 5 }, 400, "reason is required and must be a string."],
        [{ amount: 5, reason: "  " }, 422, "reason must not be empty"],
      ];
      for (const [body, status, msg] of cases) {
        const answer = await adminCall(harness, "POST", "/accounts/alpha/credits/grant", body);
        expect({ status: answer.status, body: answer.body }).toEqual({ status, body: failureOf(status, msg) });
      }
      const unknown = await adminCall(harness, "POST", "/accounts/nobody/credits/grant", { amount: 5, reason: "x" });
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual(failureOf(404, "no account named nobody"));
      expect((await adminData<AccountData>(harness, "GET", "/accounts/alpha")).credits).toBe(1_000_000);
    });
  });

  describe("keys", () => {
    it("POST /accounts/:account/keys answers a live key once, or a test key, that the account API accepts", async () => {
      const { account } = await accountWithKey(harness, "golf", 5);
      const live = await adminData<KeyData>(harness, "POST", "/accounts/golf/keys", {});
      expect(live).toEqual({
        id: expect.stringMatching(KEY_ID),
        accountId: account.id,
        mode: "live",
        hint: `${(live.key ?? "").slice(0, 12)}…`,
        createdAt: expect.any(Number),
        revokedAt: null,
        name: null,
        lastUsedAt: null,
        key: expect.stringMatching(LIVE_KEY),
      });
      const test = await adminData<KeyData>(harness, "POST", "/accounts/golf/keys", { mode: "test", name: "staging" });
      expect(test.key).toMatch(TEST_KEY);
      expect(test.name).toBe("staging");
      for (const key of [live.key ?? "", test.key ?? ""]) {
        expect((await call(harness.baseUrl, "GET", "/api/v1/chat/credit", { key })).body.data).toBe(5);
      }
    });

    it("POST /accounts/:account/keys rejects an unknown mode and an unknown account", async () => {
      const mode = await adminCall(harness, "POST", "/accounts/alpha/keys", { mode: "gold" });
      expect(mode.status).toBe(422);
      expect(mode.body).toEqual(failureOf(422, "mode must be one of live, test"));
      const account = await adminCall(harness, "POST", "/accounts/nobody/keys", {});
      expect(account.status).toBe(404);
      expect(account.body).toEqual(failureOf(404, "no account named nobody"));
    });

    it("GET /keys?account= lists the account's keys without secrets; an unknown account is 404", async () => {
      const { account, key } = await accountWithKey(harness, "hotel", 0);
      const answer = await adminCall<KeyData[]>(harness, "GET", "/keys?account=hotel");
      expect(answer.status).toBe(200);
      expect(answer.body.data).toHaveLength(1);
      expect(answer.body.data[0]).toMatchObject({ accountId: account.id, mode: "live", revokedAt: null });
      expect(Object.keys(answer.body.data[0] ?? {}).sort()).toEqual(["accountId", "createdAt", "hint", "id", "lastUsedAt", "mode", "name", "revokedAt"]);
      expect(JSON.stringify(answer.body)).not.toContain(key.slice(12));
      const all = await adminData<KeyData[]>(harness, "GET", "/keys");
      expect(all.some((listed) => listed.accountId === harness.accountId)).toBe(true);
      const unknown = await adminCall(harness, "GET", "/keys?account=nobody");
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual(failureOf(404, "no account named nobody"));
    });

    it("POST /keys/:keyId/revoke makes the key answer 401; revoking it again is 404", async () => {
      const { key } = await accountWithKey(harness, "india", 0);
      const [record] = await adminData<KeyData[]>(harness, "GET", "/keys?account=india");
      const keyId = record?.id ?? "";
      const revoked = await adminCall<KeyData>(harness, "POST", `/keys/${keyId}/revoke`);
      expect(revoked.status).toBe(200);
      expect(revoked.body.data).toMatchObject({ id: keyId, revokedAt: expect.any(Number) });
      expect((await call(harness.baseUrl, "GET", "/api/v1/chat/credit", { key })).status).toBe(401);
      const again = await adminCall(harness, "POST", `/keys/${keyId}/revoke`);
      expect(again.status).toBe(404);
      expect(again.body).toEqual(failureOf(404, `no active key with id ${keyId}`));
    });

    it("POST /keys/:keyId/rotate answers a new key of the same mode and revokes the old one", async () => {
      const { account, key } = await accountWithKey(harness, "juliet", 7);
      const [record] = await adminData<KeyData[]>(harness, "GET", "/keys?account=juliet");
      const keyId = record?.id ?? "";
      const rotated = await adminData<KeyData>(harness, "POST", `/keys/${keyId}/rotate`);
      expect(rotated).toMatchObject({ accountId: account.id, mode: "live", revokedAt: null, replaces: keyId, key: expect.stringMatching(LIVE_KEY) });
      expect(rotated.id).not.toBe(keyId);
      expect((await call(harness.baseUrl, "GET", "/api/v1/chat/credit", { key })).status).toBe(401);
      expect((await call(harness.baseUrl, "GET", "/api/v1/chat/credit", { key: rotated.key ?? "" })).body.data).toBe(7);
      const unknown = await adminCall(harness, "POST", "/keys/key_unknown/rotate");
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual(failureOf(404, "no active key with id key_unknown"));
    });
  });

  describe("limits", () => {
    it("PUT /accounts/:account/limits sets the fields given, and null puts one back to the default", async () => {
      await accountWithKey(harness, "kilo", 0);
      const set = await adminData<AccountData>(harness, "PUT", "/accounts/kilo/limits", { activeTasks: 3, createTask: "5/1m" });
      expect(set.limits).toEqual({ activeTasks: 3, createTask: "5/1m", other: null });
      const reset = await adminData<AccountData>(harness, "PUT", "/accounts/kilo/limits", { activeTasks: null, other: "2/1s" });
      expect(reset.limits).toEqual({ activeTasks: null, createTask: "5/1m", other: "2/1s" });
    });

    it("rejects bad limit values naming the field, an empty body, and an unknown account", async () => {
      const cases: [unknown, number, string][] = [
        [{ activeTasks: 0 }, 422, "activeTasks must be a whole number from 1 to 1000000"],
        [{ activeTasks: "3" }, 400, "activeTasks must be a number or null."],
        [{ createTask: "fast" }, 422, "createTask must be a rate such as 20/10s (a count per window in s, m or h)"],
        [{ other: 5 }, 400, "other must be a string such as 20/10s, or null."],
        [{}, 422, "give at least one of activeTasks, createTask, other"],
        [{ burst: 3 }, 422, "burst is not a known field; the accepted fields are activeTasks, createTask, other"],
      ];
      for (const [body, status, msg] of cases) {
        const answer = await adminCall(harness, "PUT", "/accounts/alpha/limits", body);
        expect({ status: answer.status, body: answer.body }).toEqual({ status, body: failureOf(status, msg) });
      }
      const unknown = await adminCall(harness, "PUT", "/accounts/nobody/limits", { activeTasks: 2 });
      expect(unknown.status).toBe(404);
      expect((await adminData<AccountData>(harness, "GET", "/accounts/alpha")).limits).toEqual(NO_LIMITS);
    });
  });

  describe("tasks and usage", () => {
    let accountId: string;
    let key: string;
    const taskIds: string[] = [];
    const states = new Map<string, string>();

    beforeAll(async () => {
      ({ account: { id: accountId }, key } = await accountWithKey(harness, "lima", 100));
      // Three successes and one failure, created one after another so their times are ordered.
      for (const prompt of ["one", "two", "[sandbox:fail] three", "four"]) {
        const created = await createTask(harness, key, prompt);
        const taskId = created.body.data?.taskId ?? "";
        const { record } = await waitForTerminal(harness.baseUrl, key, taskId);
        taskIds.push(taskId);
        states.set(taskId, record.state);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    });

    it("GET /tasks?account= lists the account's tasks, newest first, with their account", async () => {
      const listed = await adminData<AdminTaskData[]>(harness, "GET", "/tasks?account=lima");
      expect(listed.map((task) => task.taskId)).toEqual([...taskIds].reverse());
      expect(listed[0]).toMatchObject({ accountId, accountName: "lima", mode: "live", creditsHeld: PRICE, state: "success" });
    });

    it("GET /tasks filters by state, time and limit", async () => {
      const failed = await adminData<AdminTaskData[]>(harness, "GET", "/tasks?account=lima&state=fail");
      expect(failed.map((task) => task.taskId)).toEqual([taskIds[2]]);
      const all = await adminData<AdminTaskData[]>(harness, "GET", "/tasks?account=lima");
      const third = all.find((task) => task.taskId === taskIds[2]);
      const since = third?.createTime ?? 0;
      const fromThird = await adminData<AdminTaskData[]>(harness, "GET", `/tasks?account=lima&since=${since}`);
      expect(fromThird.map((task) => task.taskId)).toEqual([taskIds[3], taskIds[2]]);
      const beforeThird = await adminData<AdminTaskData[]>(
        harness,
        "GET",
        `/tasks?account=lima&until=${encodeURIComponent(new Date(since).toISOString())}`,
      );
      expect(beforeThird.map((task) => task.taskId)).toEqual([taskIds[1], taskIds[0]]);
      const newest = await adminData<AdminTaskData[]>(harness, "GET", "/tasks?account=lima&limit=1");
      expect(newest.map((task) => task.taskId)).toEqual([taskIds[3]]);
      const everyone = await adminData<AdminTaskData[]>(harness, "GET", "/tasks?limit=1000");
      expect(everyone.length).toBeGreaterThanOrEqual(taskIds.length + 1);
    });

    it("GET /tasks rejects a bad state, time or limit naming the parameter, and an unknown account", async () => {
      const cases: [string, number, string][] = [
        ["state=done", 422, "state must be one of waiting, queuing, generating, success, fail"],
        ["since=yesterday", 422, "since must be an ISO-8601 time such as 2026-05-01T00:00:00Z or epoch milliseconds"],
        ["until=2026-13-45", 422, "until must be an ISO-8601 time such as 2026-05-01T00:00:00Z or epoch milliseconds"],
        ["since=2026-11-28&until=2026-11-01", 422, "until must be later than since"],
        ["since=1700000000000&until=1700000000000", 422, "until must be later than since"],
        ["limit=0", 422, "limit must be a whole number from 1 to 1000"],
        ["limit=1001", 422, "limit must be a whole number from 1 to 1000"],
        ["state=fail&state=success", 400, "state must be given at most once."],
        ["account=nobody", 404, "no account named nobody"],
      ];
      for (const [query, status, msg] of cases) {
        const answer = await adminCall(harness, "GET", `/tasks?${query}`);
        expect({ query, status: answer.status, body: answer.body }).toEqual({ query, status, body: failureOf(status, msg) });
      }
    });

    it("GET /tasks/:taskId shows any account's task with its account; an unknown task is 404", async () => {
      const taskId = taskIds[2] ?? "";
      const shown = await adminData<AdminTaskData & { failCode: string }>(harness, "GET", `/tasks/${taskId}`);
      expect(shown).toMatchObject({ taskId, accountId, accountName: "lima", state: "fail", failCode: "PROVIDER_ERROR", creditsHeld: PRICE });
      // One run, one call to the (sandbox) upstream.
      expect(shown).toMatchObject({ attempts: 1, upstreamAttempts: 1 });
      expect(JSON.parse(shown.param)).toEqual({ model: MODEL, input: { prompt: "[sandbox:fail] three" } });
      const unknown = await adminCall(harness, "GET", "/tasks/task_unknown");
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual(failureOf(404, "no task with taskId task_unknown"));
    });

    it("GET /usage counts the account's tasks by state and the credits its successes spent", async () => {
      expect([...states.values()]).toEqual(["success", "success", "fail", "success"]);
      const usage = await adminData<unknown[]>(harness, "GET", "/usage?account=lima");
      const all = await adminData<AdminTaskData[]>(harness, "GET", "/tasks?account=lima");
      const day = new Date(all[0]?.createTime ?? 0).toISOString().slice(0, 10);
      expect(usage).toEqual([
        {
          day,
          accountId,
          accountName: "lima",
          tasks: { waiting: 0, queuing: 0, generating: 0, success: 3, fail: 1 },
          creditsSpent: 3 * PRICE,
          models: { [MODEL]: { tasks: 4, creditsSpent: 3 * PRICE } },
        },
      ]);
      const credit = await call<number>(harness.baseUrl, "GET", "/api/v1/chat/credit", { key });
      expect(credit.body.data).toBe(100 - 3 * PRICE);
    });

    it("GET /usage honours since and until, and rejects a bad time", async () => {
      const future = Date.now() + 86_400_000;
      expect(await adminData(harness, "GET", `/usage?account=lima&since=${future}`)).toEqual([]);
      const everything = await adminData<{ accountName: string }[]>(harness, "GET", `/usage?until=${future}`);
      expect(everything.map((row) => row.accountName)).toContain("lima");
      const bad = await adminCall(harness, "GET", "/usage?since=soon");
      expect(bad.status).toBe(422);
      expect(bad.body).toEqual(failureOf(422, "since must be an ISO-8601 time such as 2026-05-01T00:00:00Z or epoch milliseconds"));
      const backwards = await adminCall(harness, "GET", "/usage?since=2026-11-28&until=2026-11-01");
      expect(backwards.body).toEqual(failureOf(422, "until must be later than since"));
    });
  });

  describe("audit trail", () => {
    it("every change through the admin API leaves an audit entry made by admin-api; refused changes leave none", async () => {
      const account = await adminData<AccountData>(harness, "POST", "/accounts", { name: "mike" });
      await adminData(harness, "POST", "/accounts/mike/credits/grant", { amount: 9, reason: "trial" });
      await adminData(harness, "POST", "/accounts/mike/credits/deduct", { amount: 2, reason: "correction" });
      expect((await adminCall(harness, "POST", "/accounts/mike/credits/deduct", { amount: 100, reason: "no" })).status).toBe(409);
      const first = await adminData<KeyData>(harness, "POST", "/accounts/mike/keys", { mode: "test" });
      const second = await adminData<KeyData>(harness, "POST", "/accounts/mike/keys", {});
      await adminData(harness, "POST", `/keys/${first.id}/revoke`);
      const rotated = await adminData<KeyData>(harness, "POST", `/keys/${second.id}/rotate`);
      await adminData(harness, "PUT", "/accounts/mike/limits", { activeTasks: 2 });

      const audit = await adminData<AuditData[]>(harness, "GET", "/audit?limit=1000");
      const targets = new Set([account.id, first.id, second.id, rotated.id]);
      const mine = audit.filter((entry) => targets.has(entry.target)).reverse();
      expect(mine.map((entry) => [entry.actor, entry.action, entry.target])).toEqual([
        ["admin-api", "account.create", account.id],
        ["admin-api", "credits.grant", account.id],
        ["admin-api", "credits.deduct", account.id],
        ["admin-api", "key.create", first.id],
        ["admin-api", "key.create", second.id],
        ["admin-api", "key.revoke", first.id],
        ["admin-api", "key.create", rotated.id],
        ["admin-api", "key.rotate", second.id],
        ["admin-api", "limits.set", account.id],
      ]);
      expect(mine[1]?.details).toEqual({ amount: 9, reason: "trial", balance: 9 });
      expect(mine.every((entry) => typeof entry.at === "number")).toBe(true);
    });

    it("GET /audit?limit= answers the newest entries; a bad limit is 422", async () => {
      const newest = await adminData<AuditData[]>(harness, "GET", "/audit?limit=1");
      expect(newest).toHaveLength(1);
      expect(newest[0]?.action).toBe("limits.set");
      const bad = await adminCall(harness, "GET", "/audit?limit=many");
      expect(bad.status).toBe(422);
      expect(bad.body).toEqual(failureOf(422, "limit must be a whole number from 1 to 1000"));
    });
  });
});

describe("admin API limits, enforced on the account API", () => {
  let harness: TestServer;

  beforeAll(async () => {
    // Slow images keep the first task active while the second is created.
    harness = await startTestServer({ ADMIN_API_KEY: ADMIN_KEY, SANDBOX_LATENCY_MS: "10000", SHUTDOWN_GRACE_MS: "0" });
  });
  afterAll(async () => {
    await harness.close();
  });

  it("activeTasks 1: a second concurrent createTask answers 409", async () => {
    const { key } = await accountWithKey(harness, "november", 100);
    await adminData(harness, "PUT", "/accounts/november/limits", { activeTasks: 1 });
    expect((await createTask(harness, key)).status).toBe(200);
    const second = await createTask(harness, key);
    expect(second.status).toBe(409);
    expect(second.body).toEqual(failureOf(409, "The account already has its maximum of 1 active tasks; wait for some to finish."));
  });

  it("createTask 2/10s: the third createTask answers 429", async () => {
    const { key } = await accountWithKey(harness, "oscar", 100);
    await adminData(harness, "PUT", "/accounts/oscar/limits", { createTask: "2/10s" });
    expect((await createTask(harness, key)).status).toBe(200);
    expect((await createTask(harness, key)).status).toBe(200);
    const third = await createTask(harness, key);
    expect(third.status).toBe(429);
    expect(third.body.msg).toMatch(/^Rate limit exceeded: this key may make 2 createTask requests per 10 s; retry after \d+ s\.$/);
    expect(third.headers.get("ratelimit-policy")).toBe('"createTask";q=2;w=10');
  });
});

describe("admin API without ADMIN_API_KEY", () => {
  let harness: TestServer;

  beforeAll(async () => {
    harness = await startTestServer();
  });
  afterAll(async () => {
    await harness.close();
  });

  it("answers 401 on every admin route saying how to enable it", async () => {
    for (const [method, path] of [
      ["GET", "/admin/v1/accounts"],
      ["POST", "/admin/v1/accounts"],
      ["GET", "/admin/v1/tasks/task_unknown"],
    ] as const) {
      const answer = await call(harness.baseUrl, method, path, { key: ADMIN_KEY, ...(method === "POST" ? { body: { name: "papa" } } : {}) });
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual(failureOf(401, "The admin API is disabled: set ADMIN_API_KEY to enable it."));
    }
    expect(await harness.server.accounts.findAccount("papa")).toBeNull();
  });
});
