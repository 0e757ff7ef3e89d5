import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_OWN_ACTIVE_KEYS } from "../../src/domain/accounts/account-service.ts";
import type { Task } from "../../src/domain/tasks/task.ts";
import { startCallbackReceiver, type CallbackReceiver } from "../helpers/callback-receiver.ts";
import { storedTask } from "../helpers/tasks.ts";
import { call, MODEL, startTestServer, waitForTerminal, type ApiAnswer, type TaskData, type TestServer } from "../helpers/test-server.ts";
import { waitUntil } from "../helpers/wait.ts";

const RECORD_FIELDS = [
  "completeTime", "costTime", "createTime", "creditsConsumed", "failCode", "failMsg",
  "model", "param", "resultJson", "state", "taskId", "updateTime",
].sort();
const KEY_FIELDS = ["createdAt", "current", "id", "lastUsedAt", "mode", "name", "prefix", "revokedAt"];
const UNAUTHORIZED = { code: 401, msg: "Authentication failed: the API key is malformed, unknown or revoked.", data: null };
const DAY = 86_400_000;
/** 2027-03-01T00:00:00Z: the seeded tasks' first day. */
const DAY_ONE = Date.UTC(2027, 2, 1);
const OTHER_MODEL = "nano-banana-pro";

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

interface OwnKey {
  id: string;
  prefix: string;
  mode: "live" | "test";
  name: string | null;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
  current: boolean;
  key?: string;
}

let harness: TestServer;
let receiver: CallbackReceiver;
/** Account bravo's live key: the other account of every isolation check. */
let bravoKey: string;

beforeAll(async () => {
  receiver = await startCallbackReceiver("/hook");
  harness = await startTestServer({ CALLBACK_ALLOW_PRIVATE: "true" });
  bravoKey = await harness.newAccountKey("bravo");
});
afterAll(async () => {
  await harness.close();
  await receiver.close();
});

function get<T>(path: string, key: string | null = harness.key): Promise<ApiAnswer<T>> {
  return call<T>(harness.baseUrl, "GET", path, { key });
}

function post<T>(path: string, body?: unknown, key: string | null = harness.key): Promise<ApiAnswer<T>> {
  return call<T>(harness.baseUrl, "POST", path, { key, ...(body === undefined ? {} : { body }) });
}

/**
 * Stores `tasks` through the repository as TaskService would have, each holding its creditsHeld
 * (the ledger's hold); ended tasks, so that no sweep moves them.
 */
async function store(tasks: readonly Task[]): Promise<void> {
  for (const task of tasks) await harness.server.store.tasks.create(task, { activeLimit: 1_000_000, price: task.creditsHeld });
}

function ended(accountId: string, at: number, changes: Partial<Task> = {}): Task {
  return storedTask(accountId, at, { state: "success", completeTime: at + 1_000, updateTime: at + 1_000, resultJson: '{"resultUrls":[]}', ...changes });
}

describe("GET /api/v1/jobs", () => {
  /** The key of the account whose tasks are listed. */
  let listerKey: string;
  let mine: Task[];
  let theirs: Task[];
  beforeAll(async () => {
    listerKey = await harness.newAccountKey("lister");
    const listerId = (await harness.server.accounts.findAccount("lister"))?.id ?? "";
    const bravoId = (await harness.server.accounts.findAccount("bravo"))?.id ?? "";
    // 250 tasks of the account, one a minute; every tenth failed, every fifth of the other model.
    mine = Array.from({ length: 250 }, (_, index) =>
      ended(listerId, DAY_ONE + index * 60_000, {
        ...(index % 10 === 3 ? { state: "fail", failCode: "PROVIDER_ERROR", failMsg: "The upstream failed.", resultJson: null } : {}),
        ...(index % 5 === 1 ? { model: OTHER_MODEL } : {}),
      }),
    );
    theirs = Array.from({ length: 3 }, (_, index) => ended(bravoId, DAY_ONE + index * 60_000 + 30_000));
    await store([...mine, ...theirs]);
  });

  const newestFirst = (tasks: readonly Task[]) => tasks.map((task) => task.id).reverse();

  const list = <T>(query: string, key: string | null = listerKey) => get<T>(`/api/v1/jobs${query}`, key);

  async function allPages(query: string, key = listerKey): Promise<{ ids: string[]; sizes: number[] }> {
    const ids: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const answer: ApiAnswer<Page<TaskData>> = await list<Page<TaskData>>(`?${query}${cursor === null ? "" : `&cursor=${cursor}`}`, key);
      expect(answer.status).toBe(200);
      ids.push(...answer.body.data.items.map((item) => item.taskId));
      sizes.push(answer.body.data.items.length);
      cursor = answer.body.data.nextCursor;
    } while (cursor !== null);
    return { ids, sizes };
  }

  it("answers the account's tasks newest first as recordInfo shows them, 20 by default", async () => {
    const answer = await list<Page<TaskData>>("");
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ code: 200, msg: "success" });
    expect(Object.keys(answer.body.data).sort()).toEqual(["items", "nextCursor"]);
    expect(answer.body.data.items.map((item) => item.taskId)).toEqual(newestFirst(mine).slice(0, 20));
    expect(answer.body.data.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
    for (const item of answer.body.data.items) expect(Object.keys(item).sort()).toEqual(RECORD_FIELDS);
    const [newest] = answer.body.data.items;
    expect(newest).toEqual((await get<TaskData>(`/api/v1/jobs/recordInfo?taskId=${newest?.taskId ?? ""}`, listerKey)).body.data);
  });

  it("pages to the end, each task once, the last page answering nextCursor null", async () => {
    const { ids, sizes } = await allPages("limit=100");
    expect(ids).toEqual(newestFirst(mine));
    expect(sizes).toEqual([100, 100, 50]);
    // A last page that is full still says it is the last.
    expect((await allPages("limit=50")).sizes).toEqual([50, 50, 50, 50, 50]);
  });

  it("filters by state, by model and by both", async () => {
    expect((await allPages("state=fail&limit=7")).ids).toEqual(newestFirst(mine.filter((task) => task.state === "fail")));
    expect((await allPages(`model=${OTHER_MODEL}`)).ids).toEqual(newestFirst(mine.filter((task) => task.model === OTHER_MODEL)));
    expect((await allPages(`model=${OTHER_MODEL}&state=success`)).ids).toEqual(
      newestFirst(mine.filter((task) => task.model === OTHER_MODEL && task.state === "success")),
    );
    expect(await list("?state=waiting")).toMatchObject({ status: 200, body: { data: { items: [], nextCursor: null } } });
    expect((await list<Page<TaskData>>("?state=fail&limit=1")).body.data.items[0]).toMatchObject({
      state: "fail",
      failCode: "PROVIDER_ERROR",
      failMsg: "The upstream failed.",
      creditsConsumed: 0,
    });
  });

  it("never shows another account's tasks, even given a cursor of the other account's list", async () => {
    expect((await allPages("limit=2", bravoKey)).ids).toEqual(newestFirst(theirs));
    const listerCursor = (await list<Page<TaskData>>("?limit=100")).body.data.nextCursor ?? "";
    const answer = await list<Page<TaskData>>(`?cursor=${listerCursor}`, bravoKey);
    expect(answer.status).toBe(200);
    for (const item of answer.body.data.items) expect(theirs.map((task) => task.id)).toContain(item.taskId);
  });

  it("answers 422 naming the parameter whose value is not accepted, and 400 for one given twice", async () => {
    const refusals: Array<[string, string]> = [
      ["state=done", "state must be one of waiting, queuing, generating, success, fail"],
      ["model=dall-e", "model must be one of nano-banana-text-to-image, google/nano-banana, google/nano-banana-edit, nano-banana-pro, nano-banana-2, nano-banana-2-lite, nano-banana-2-1"],
      ["limit=0", "limit must be a whole number from 1 to 100"],
      ["limit=101", "limit must be a whole number from 1 to 100"],
      ["limit=ten", "limit must be a whole number from 1 to 100"],
      ["cursor=not-a-cursor", "cursor must be a nextCursor this list answered, as it was given"],
      [`cursor=${Buffer.from("ledger:5").toString("base64url")}`, "cursor must be a nextCursor this list answered, as it was given"],
      [`cursor=${Buffer.from("jobs:task_x").toString("base64url")}`, "cursor must be a nextCursor this list answered, as it was given"],
    ];
    for (const [query, msg] of refusals) expect((await list(`?${query}`)).body).toEqual({ code: 422, msg, data: null });
    expect((await list("?state=fail&state=success")).body).toEqual({ code: 400, msg: "state must be given at most once.", data: null });
  });

  it("answers 401 without a valid key", async () => {
    expect((await list("", null)).status).toBe(401);
    expect((await list("", `ig_live_${"A".repeat(32)}`)).body).toEqual(UNAUTHORIZED);
  });
});

describe("a task's callbacks", () => {
  /** The callbacks the receiver got for one task. */
  const received = (taskId: string) =>
    receiver.requests.filter((request) => (JSON.parse(request.body) as { data: { taskId: string } }).data.taskId === taskId);

  async function endedTask(callBackUrl?: string): Promise<string> {
    const created = await post<{ taskId: string }>("/api/v1/jobs/createTask", {
      model: MODEL,
      input: { prompt: "called back" },
      ...(callBackUrl === undefined ? {} : { callBackUrl }),
    });
    expect(created.status).toBe(200);
    await waitForTerminal(harness.baseUrl, harness.key, created.body.data.taskId);
    return created.body.data.taskId;
  }

  it("lists the task's delivery with its body and every attempt, and sends it again on request", async () => {
    const taskId = await endedTask(receiver.url);
    await waitUntil(() => received(taskId).length === 1, "the callback");
    type Details = { delivery: { id: string; taskId: string; state: string; attempts: number; payload: string; url: string }; attempts: Array<{ status: number | null }> };
    let listed: ApiAnswer<Details[]> | undefined;
    await waitUntil(async () => {
      listed = await get<Details[]>(`/api/v1/jobs/callbacks?taskId=${taskId}`);
      return listed.body.data[0]?.delivery.state === "delivered";
    }, "the delivery recorded");
    const [details] = listed?.body.data ?? [];
    expect(listed?.body.data).toHaveLength(1);
    expect(details?.delivery).toMatchObject({ taskId, url: receiver.url, attempts: 1 });
    expect(details?.delivery.id).toMatch(/^msg_[0-9a-z]{26}$/);
    expect(JSON.parse(details?.delivery.payload ?? "")).toEqual((await get(`/api/v1/jobs/recordInfo?taskId=${taskId}`)).body);
    expect(details?.attempts).toEqual([{ at: expect.any(Number), status: 200, durationMs: expect.any(Number), error: null }]);
    expect(JSON.stringify(listed?.body)).not.toMatch(/whsec_/);

    const redelivered = await post<{ id: string; state: string }>("/api/v1/jobs/callbacks/redeliver", { taskId });
    expect(redelivered.status).toBe(200);
    expect(redelivered.body.data).toMatchObject({ id: details?.delivery.id, taskId, state: "pending" });
    await waitUntil(() => received(taskId).length === 2, "the second delivery");
    expect(received(taskId).map((request) => request.headers["webhook-id"])).toEqual([details?.delivery.id, details?.delivery.id]);
    const audit = await harness.server.accounts.listAudit(5);
    expect(audit).toContainEqual(expect.objectContaining({ action: "callback.redeliver", target: details?.delivery.id, actor: expect.stringMatching(/^key_/) }));
  });

  it("answers no deliveries, and 409 to a redelivery, for a task without callBackUrl or not ended yet", async () => {
    const plain = await endedTask();
    expect((await get(`/api/v1/jobs/callbacks?taskId=${plain}`)).body).toEqual({ code: 200, msg: "success", data: [] });
    expect((await post("/api/v1/jobs/callbacks/redeliver", { taskId: plain })).body).toEqual({
      code: 409,
      msg: `Task ${plain} has no callBackUrl: there is no callback to send.`,
      data: null,
    });
    const running = await post<{ taskId: string }>("/api/v1/jobs/createTask", {
      model: MODEL,
      input: { prompt: "[sandbox:slow] still running" },
      callBackUrl: receiver.url,
    });
    const taskId = running.body.data.taskId;
    expect((await post("/api/v1/jobs/callbacks/redeliver", { taskId })).body).toEqual({
      code: 409,
      msg: `Task ${taskId} has not ended yet: its callback is sent when it does.`,
      data: null,
    });
    expect((await post("/api/v1/jobs/cancelTask", { taskId })).status).toBe(200);
  });

  it("answers 404 for another account's task or an unknown one, and 400 or 422 for a request without one", async () => {
    const taskId = await endedTask(receiver.url);
    await waitUntil(() => received(taskId).length === 1, "the callback");
    const unknown = { code: 404, msg: `no task with taskId ${taskId}`, data: null };
    expect((await get(`/api/v1/jobs/callbacks?taskId=${taskId}`, bravoKey)).body).toEqual(unknown);
    expect((await post("/api/v1/jobs/callbacks/redeliver", { taskId }, bravoKey)).body).toEqual(unknown);
    expect((await get("/api/v1/jobs/callbacks?taskId=task_none")).status).toBe(404);
    expect((await get("/api/v1/jobs/callbacks")).body).toEqual({ code: 400, msg: "taskId is required as a query parameter.", data: null });
    expect((await post("/api/v1/jobs/callbacks/redeliver", {})).body).toEqual({ code: 400, msg: "taskId is required and must be a string.", data: null });
    expect((await post("/api/v1/jobs/callbacks/redeliver", { taskId, url: "x" })).body).toEqual({
      code: 422,
      msg: "url is not a known field; the accepted fields are taskId",
      data: null,
    });
    expect((await get(`/api/v1/jobs/callbacks?taskId=${taskId}`, null)).status).toBe(401);
    // Nothing was sent again for the refused requests.
    expect(received(taskId)).toHaveLength(1);
  });
});

describe("the account's keys", () => {
  async function keys(key = harness.key): Promise<OwnKey[]> {
    const answer = await get<OwnKey[]>("/api/v1/keys", key);
    expect(answer.status).toBe(200);
    return answer.body.data;
  }

  async function newKey(body: unknown, key = harness.key): Promise<OwnKey & { key: string }> {
    const answer = await post<OwnKey & { key: string }>("/api/v1/keys", body, key);
    expect(answer.body).toMatchObject({ code: 200, msg: "success" });
    return answer.body.data;
  }

  it("lists the account's keys by prefix, newest first, marking the calling one, with when each was last used", async () => {
    const made = await newKey({ name: "build server" });
    expect(Object.keys(made).sort()).toEqual([...KEY_FIELDS, "key"].sort());
    expect(made).toMatchObject({ mode: "live", name: "build server", lastUsedAt: null, revokedAt: null, current: false });
    expect(made.key).toMatch(/^ig_live_[A-Za-z0-9_-]{32}$/);
    expect(made.prefix).toBe(made.key.slice(0, 12));

    const listed = await keys(made.key);
    expect(listed[0]).toEqual({ ...made, key: undefined, current: true, lastUsedAt: null });
    expect(listed.map((key) => key.id)).toEqual([...listed.map((key) => key.id)].sort().reverse());
    for (const key of listed) {
      expect(Object.keys(key).sort()).toEqual(KEY_FIELDS);
      expect(JSON.stringify(key)).not.toContain(made.key);
    }
    expect(listed.find((key) => key.prefix === harness.key.slice(0, 12))).toMatchObject({ current: false });

    // Uses are written after the requests, at most once a minute per key.
    const before = Date.now();
    await harness.server.sweep();
    const used = (await keys(made.key)).find((key) => key.id === made.id);
    expect(used?.lastUsedAt).toBeGreaterThanOrEqual(made.createdAt);
    expect(used?.lastUsedAt).toBeLessThanOrEqual(before);
    expect((await harness.server.accounts.listAudit(3))[0]).toMatchObject({
      action: "key.create",
      target: made.id,
      actor: expect.stringMatching(/^key_/),
      details: { mode: "live", name: "build server" },
    });
  });

  it("never lists or revokes another account's keys", async () => {
    const theirs = await keys(bravoKey);
    expect(theirs).toHaveLength(1);
    expect((await keys()).map((key) => key.id)).not.toContain(theirs[0]?.id);
    expect((await post(`/api/v1/keys/${theirs[0]?.id ?? ""}/revoke`)).body).toEqual({ code: 404, msg: `no key with id ${theirs[0]?.id ?? ""}`, data: null });
    expect((await get("/api/v1/chat/credit", bravoKey)).status).toBe(200);
    expect((await post("/api/v1/keys/key_none/revoke")).status).toBe(404);
  });

  it("revokes a key, which answers 401 from its next request; revoking it again answers it unchanged", async () => {
    const made = await newKey({ mode: "live" });
    expect((await get("/api/v1/chat/credit", made.key)).status).toBe(200);
    const revoked = await post<OwnKey>(`/api/v1/keys/${made.id}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.data).toMatchObject({ id: made.id, revokedAt: expect.any(Number), current: false });
    expect((await get("/api/v1/chat/credit", made.key)).body).toEqual(UNAUTHORIZED);
    expect((await post<OwnKey>(`/api/v1/keys/${made.id}/revoke`)).body.data).toEqual(revoked.body.data);
    const audit = (await harness.server.accounts.listAudit(10)).filter((entry) => entry.target === made.id);
    expect(audit.map((entry) => entry.action)).toEqual(["key.revoke", "key.create"]);
  });

  it("lets a key revoke itself: that request succeeds, and the key answers 401 from the next", async () => {
    const made = await newKey({});
    const revoked = await post<OwnKey>(`/api/v1/keys/${made.id}/revoke`, undefined, made.key);
    expect(revoked.body).toMatchObject({ code: 200, data: { id: made.id, current: true, revokedAt: expect.any(Number) } });
    expect((await get("/api/v1/keys", made.key)).body).toEqual(UNAUTHORIZED);
    expect((await harness.server.accounts.listAudit(1))[0]).toMatchObject({ action: "key.revoke", target: made.id, actor: made.id });
  });

  it("lets a test-mode key list keys but neither make nor revoke one, nor touch the webhook secret", async () => {
    const test = await newKey({ mode: "test", name: "CI" });
    expect(test.key).toMatch(/^ig_test_/);
    expect(test).toMatchObject({ mode: "test", name: "CI" });
    expect((await keys(test.key)).find((key) => key.current)?.id).toBe(test.id);
    const refusals: Array<[() => Promise<ApiAnswer<unknown>>, string]> = [
      [() => post("/api/v1/keys", { mode: "test" }, test.key), "A test-mode key cannot make keys: use a live key (ig_live_...)."],
      [() => post(`/api/v1/keys/${test.id}/revoke`, undefined, test.key), "A test-mode key cannot revoke keys: use a live key (ig_live_...)."],
      [() => get("/api/v1/webhook-secret", test.key), "A test-mode key cannot read the webhook secret: use a live key (ig_live_...)."],
      [() => post("/api/v1/webhook-secret/rotate", undefined, test.key), "A test-mode key cannot rotate the webhook secret: use a live key (ig_live_...)."],
    ];
    for (const [request, msg] of refusals) expect((await request()).body).toEqual({ code: 403, msg, data: null });
    expect((await keys()).find((key) => key.id === test.id)?.revokedAt).toBeNull();
  });

  it("answers 422 or 400 naming what is wrong with a new key's body", async () => {
    const refusals: Array<[unknown, number, string]> = [
      [{ mode: "sandbox" }, 422, "mode must be one of live, test"],
      [{ name: "" }, 422, "name must be 1 to 64 characters, not only spaces, without control characters"],
      [{ name: "x".repeat(65) }, 422, "name must be 1 to 64 characters, not only spaces, without control characters"],
      [{ name: "a\nb" }, 422, "name must be 1 to 64 characters, not only spaces, without control characters"],
      [{ name: 5 }, 400, "name must be a string."],
      [{ scopes: ["all"] }, 422, "scopes is not a known field; the accepted fields are mode, name"],
      [[], 400, "The request body must be a JSON object."],
    ];
    const before = (await keys()).length;
    for (const [body, code, msg] of refusals) expect((await post("/api/v1/keys", body)).body).toEqual({ code, msg, data: null });
    expect(await keys()).toHaveLength(before);
    expect((await post("/api/v1/keys", {}, null)).status).toBe(401);
  });

  it(`refuses a key beyond ${MAX_OWN_ACTIVE_KEYS} active ones with 409`, async () => {
    const key = await harness.newAccountKey("many-keys");
    const active = async () => (await keys(key)).filter((listed) => listed.revokedAt === null).length;
    while ((await active()) < MAX_OWN_ACTIVE_KEYS) await newKey({ mode: "test" }, key);
    expect((await post("/api/v1/keys", {}, key)).body).toEqual({
      code: 409,
      msg: `The account already has ${MAX_OWN_ACTIVE_KEYS} active keys: revoke one before making another.`,
      data: null,
    });
    const [newest] = await keys(key);
    expect((await post(`/api/v1/keys/${newest?.id ?? ""}/revoke`, undefined, key)).status).toBe(200);
    expect((await post("/api/v1/keys", {}, key)).status).toBe(200);
  });
});

describe("the account's webhook secret", () => {
  it("is the secret that signs its callbacks; a rotation replaces it for this account alone", async () => {
    const shown = await get<{ secret: string }>("/api/v1/webhook-secret");
    expect(shown.body).toEqual({ code: 200, msg: "success", data: { secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/) } });
    const stored = await harness.server.accounts.webhookSecret("alpha");
    expect(stored.ok && stored.value).toBe(shown.body.data.secret);
    const bravoSecret = (await get<{ secret: string }>("/api/v1/webhook-secret", bravoKey)).body.data.secret;
    expect(bravoSecret).not.toBe(shown.body.data.secret);

    const rotated = await post<{ secret: string }>("/api/v1/webhook-secret/rotate");
    expect(rotated.status).toBe(200);
    expect(rotated.body.data.secret).not.toBe(shown.body.data.secret);
    expect((await get<{ secret: string }>("/api/v1/webhook-secret")).body.data).toEqual(rotated.body.data);
    expect((await get<{ secret: string }>("/api/v1/webhook-secret", bravoKey)).body.data.secret).toBe(bravoSecret);
    const [entry] = await harness.server.accounts.listAudit(1);
    expect(entry).toMatchObject({ action: "webhook-secret.rotate", target: harness.accountId, actor: expect.stringMatching(/^key_/) });
    expect(JSON.stringify(entry)).not.toContain("whsec_");
    expect((await get("/api/v1/webhook-secret", null)).status).toBe(401);
  });
});

describe("the account's usage and ledger", () => {
  let accountId: string;
  let key: string;
  beforeAll(async () => {
    key = await harness.newAccountKey("counted", "live", 100);
    accountId = (await harness.server.accounts.findAccount("counted"))?.id ?? "";
    await store([
      ended(accountId, DAY_ONE + 1_000, { creditsHeld: 4 }),
      ended(accountId, DAY_ONE + 2_000, { state: "fail", failCode: "INTERNAL", failMsg: "x", resultJson: null, model: OTHER_MODEL }),
      ended(accountId, DAY_ONE + DAY + 5_000, { model: OTHER_MODEL, creditsHeld: 18 }),
    ]);
    for (const amount of [10, 20, 30]) await harness.server.accounts.grantCredits("counted", amount, `grant ${amount}`, "admin-api");
  });

  it("sums tasks and credits per day and model within [from, to)", async () => {
    const noTasks = { waiting: 0, queuing: 0, generating: 0, success: 0, fail: 0 };
    const answer = await get(`/api/v1/usage?from=2027-03-01&to=${DAY_ONE + 2 * DAY}`, key);
    expect(answer.body).toEqual({
      code: 200,
      msg: "success",
      data: {
        from: DAY_ONE,
        to: DAY_ONE + 2 * DAY,
        days: [
          {
            day: "2027-03-01",
            tasks: { ...noTasks, success: 1, fail: 1 },
            creditsSpent: 4,
            models: { [MODEL]: { tasks: 1, creditsSpent: 4 }, [OTHER_MODEL]: { tasks: 1, creditsSpent: 0 } },
          },
          { day: "2027-03-02", tasks: { ...noTasks, success: 1 }, creditsSpent: 18, models: { [OTHER_MODEL]: { tasks: 1, creditsSpent: 18 } } },
        ],
      },
    });
    expect((await get<{ days: unknown[] }>(`/api/v1/usage?from=2027-03-02T00:00:00Z&to=2027-03-03`, key)).body.data.days).toHaveLength(1);
    // The default window is the last 30 days: none of these tasks.
    const recent = await get<{ from: number; to: number; days: unknown[] }>("/api/v1/usage", key);
    expect(recent.body.data.to - recent.body.data.from).toBe(30 * DAY);
    expect(recent.body.data.days).toEqual([]);
    // Another account's usage holds none of these tasks.
    expect((await get<{ days: Array<{ day: string }> }>(`/api/v1/usage?from=2027-03-01&to=2027-03-03`, bravoKey)).body.data.days.map((day) => day.day)).not.toContain("2027-03-02");
  });

  it("answers 422 naming a bound that is not a time, in the wrong order, or too far apart", async () => {
    const refusals: Array<[string, string]> = [
      ["from=yesterday", "from must be an ISO-8601 time such as 2026-05-01T00:00:00Z or epoch milliseconds"],
      ["to=2027-13-45", "to must be an ISO-8601 time such as 2026-05-01T00:00:00Z or epoch milliseconds"],
      ["from=2027-03-02&to=2027-03-01", "to must be later than from"],
      ["from=2027-01-01&to=2027-04-04", "to must be at most 92 days after from"],
    ];
    for (const [query, msg] of refusals) expect((await get(`/api/v1/usage?${query}`, key)).body).toEqual({ code: 422, msg, data: null });
    expect((await get("/api/v1/usage?from=2027-03-01&from=2027-03-02", key)).status).toBe(400);
    expect((await get("/api/v1/usage", null)).status).toBe(401);
  });

  it("pages through the ledger newest first, each entry once, never another account's", async () => {
    type Entry = { id: number; kind: string; amount: number; balanceAfter: number; reason: string | null; taskId: string | null };
    const entries: Entry[] = [];
    let cursor: string | null = null;
    do {
      const answer: ApiAnswer<Page<Entry>> = await get<Page<Entry>>(`/api/v1/ledger?limit=2${cursor === null ? "" : `&cursor=${cursor}`}`, key);
      expect(answer.status).toBe(200);
      entries.push(...answer.body.data.items);
      cursor = answer.body.data.nextCursor;
    } while (cursor !== null);
    // The account's first grant (made with it), the holds of its two paid tasks, then three grants.
    expect(entries.map(({ kind, amount, balanceAfter, reason, taskId }) => ({ kind, amount, balanceAfter, reason, taskId }))).toEqual([
      { kind: "grant", amount: 30, balanceAfter: 138, reason: "grant 30", taskId: null },
      { kind: "grant", amount: 20, balanceAfter: 108, reason: "grant 20", taskId: null },
      { kind: "grant", amount: 10, balanceAfter: 88, reason: "grant 10", taskId: null },
      { kind: "hold", amount: -18, balanceAfter: 78, reason: null, taskId: expect.stringMatching(/^task_/) },
      { kind: "hold", amount: -4, balanceAfter: 96, reason: null, taskId: expect.stringMatching(/^task_/) },
      { kind: "grant", amount: 100, balanceAfter: 100, reason: "test credits", taskId: null },
    ]);
    expect(Object.keys(entries[0] ?? {}).sort()).toEqual(["actor", "amount", "balanceAfter", "createdAt", "id", "kind", "reason", "taskId"]);
    const theirs = (await get<Page<Entry>>("/api/v1/ledger?limit=100", bravoKey)).body.data.items;
    expect(theirs.map((entry) => entry.id)).not.toEqual(expect.arrayContaining([entries[0]?.id]));
    const jobsCursor = Buffer.from("jobs:task_01kq0000000000000000000000").toString("base64url");
    expect((await get(`/api/v1/ledger?cursor=${jobsCursor}`, key)).body).toEqual({
      code: 422,
      msg: "cursor must be a nextCursor this list answered, as it was given",
      data: null,
    });
    expect((await get("/api/v1/ledger?limit=500", key)).body.msg).toBe("limit must be a whole number from 1 to 100");
    expect((await get("/api/v1/ledger", null)).status).toBe(401);
  });
});
