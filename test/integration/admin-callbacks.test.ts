import { rm } from "node:fs/promises";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCallbackReceiver, type CallbackReceiver, type ReceivedCallback } from "../helpers/callback-receiver.ts";
import { linesOf, runImagegate, type CliRun } from "../helpers/cli.ts";
import { call, MODEL, startTestServer, temporaryDirectory, type ApiAnswer, type TestServer } from "../helpers/test-server.ts";

const ADMIN_KEY = "admin-key-for-tests-0123456789abcdef";
const WEBHOOK_SECRET = /^whsec_[A-Za-z0-9+/]{43}=$/;
const DELIVERY_ID = /^msg_[0-9a-z]{26}$/;
const ISO_TIME = "\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z";
// Every command is a child process that loads the sources through tsx (about a second each).
const COMMAND_TIMEOUT_MS = 60_000;

/** Waits for something the server does on its own. */
async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function requestsFor(receiver: CallbackReceiver, taskId: string): ReceivedCallback[] {
  return receiver.requests.filter((request) => request.body.includes(`"taskId":"${taskId}"`));
}

function headerOf(received: ReceivedCallback, name: string): string {
  const value = received.headers[name];
  if (typeof value !== "string") throw new Error(`header ${name} missing`);
  return value;
}

function verifies(secret: string, received: ReceivedCallback): boolean {
  try {
    new Webhook(secret).verify(received.body, { ...received.headers } as Record<string, string>);
    return true;
  } catch {
    return false;
  }
}

async function createTaskWithCallback(harness: TestServer, callBackUrl: string, prompt = "a lighthouse at dusk"): Promise<string> {
  const answer = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
    key: harness.key,
    body: { model: MODEL, input: { prompt }, callBackUrl },
  });
  expect(answer.status).toBe(200);
  return answer.body.data.taskId;
}

interface DeliveryData {
  id: string;
  taskId: string;
  accountId: string;
  accountName: string | null;
  url: string;
  state: string;
  attempts: number;
  createdAt: number;
  updatedAt: number;
  nextAttemptAt: number | null;
  deliveredAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
}

interface AttemptData {
  at: number;
  status: number | null;
  durationMs: number;
  error: string | null;
}

interface DeliveryDetailsData {
  delivery: DeliveryData & { payload: string };
  attempts: AttemptData[];
}

interface SecretData {
  accountId: string;
  account: string;
  secret: string;
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

describe("callback deliveries and webhook secrets through the admin API", () => {
  let harness: TestServer;
  let receiver: CallbackReceiver;
  let taskId: string;
  let delivery: DeliveryData;

  const adminCall = <T>(method: string, path: string): Promise<ApiAnswer<T>> =>
    call<T>(harness.baseUrl, method, `/admin/v1${path}`, { key: ADMIN_KEY });
  const adminData = async <T>(method: string, path: string): Promise<T> => {
    const answer = await adminCall<T>(method, path);
    if (answer.status !== 200) throw new Error(`${method} ${path} answered ${answer.status}: ${answer.body.msg}`);
    return answer.body.data;
  };
  /** The delivery once it has `attempts` attempts and is no longer pending. */
  const settledDelivery = (deliveryId: string, attempts: number): Promise<DeliveryDetailsData> =>
    eventually(async () => {
      const details = await adminData<DeliveryDetailsData>("GET", `/callbacks/${deliveryId}`);
      return details.delivery.state !== "pending" && details.attempts.length === attempts ? details : undefined;
    }, `attempt ${attempts} of ${deliveryId} to be recorded`);

  beforeAll(async () => {
    receiver = await startCallbackReceiver();
    harness = await startTestServer({ ADMIN_API_KEY: ADMIN_KEY, CALLBACK_ALLOW_PRIVATE: "true" });
    taskId = await createTaskWithCallback(harness, receiver.url);
    await eventually(() => requestsFor(receiver, taskId)[0], "the first callback");
    const [listed] = await eventually(async () => {
      const deliveries = await adminData<DeliveryData[]>("GET", `/callbacks?task=${taskId}`);
      return deliveries[0]?.state === "delivered" ? deliveries : undefined;
    }, "the delivery to be recorded");
    if (listed === undefined) throw new Error("no delivery");
    delivery = listed;
  });

  afterAll(async () => {
    await harness.close();
    await receiver.close();
  });

  it("lists a delivered callback with its task, account, status and no next attempt", async () => {
    expect(delivery).toEqual({
      id: expect.stringMatching(DELIVERY_ID),
      taskId,
      accountId: harness.accountId,
      accountName: "alpha",
      url: receiver.url,
      state: "delivered",
      attempts: 1,
      createdAt: expect.any(Number),
      updatedAt: expect.any(Number),
      nextAttemptAt: null,
      deliveredAt: expect.any(Number),
      lastStatus: 200,
      lastError: null,
    });
    const [received] = requestsFor(receiver, taskId);
    expect(received === undefined ? null : headerOf(received, "webhook-id")).toBe(delivery.id);

    for (const query of ["account=alpha&state=delivered", `account=${harness.accountId}`, "state=delivered&limit=1000", ""]) {
      const listed = await adminData<DeliveryData[]>("GET", `/callbacks?${query}`);
      expect(listed.map((entry) => entry.id)).toContain(delivery.id);
    }
    expect(await adminData<DeliveryData[]>("GET", `/callbacks?task=${taskId}&state=failed`)).toEqual([]);
  });

  it("shows a delivery with the exact body sent and every attempt: time, status, duration, error", async () => {
    const details = await adminData<DeliveryDetailsData>("GET", `/callbacks/${delivery.id}`);
    const [received] = requestsFor(receiver, taskId);
    expect(details.delivery).toEqual({ ...delivery, payload: received?.body });
    expect(details.attempts).toEqual([{ at: expect.any(Number), status: 200, durationMs: expect.any(Number), error: null }]);
    const [attempt] = details.attempts;
    expect(attempt?.durationMs).toBeGreaterThanOrEqual(0);
    expect(attempt?.durationMs).toBeLessThan(15_000);
    expect(attempt?.at).toBeGreaterThanOrEqual(delivery.createdAt);
  });

  it("GET webhook-secret answers the same secret each time, in the whsec_ form, by name or id", async () => {
    const first = await adminData<SecretData>("GET", "/accounts/alpha/webhook-secret");
    expect(first).toEqual({ accountId: harness.accountId, account: "alpha", secret: expect.stringMatching(WEBHOOK_SECRET) });
    expect(Buffer.from(first.secret.slice("whsec_".length), "base64")).toHaveLength(32);
    expect(await adminData<SecretData>("GET", `/accounts/${harness.accountId}/webhook-secret`)).toEqual(first);
    const [received] = requestsFor(receiver, taskId);
    expect(received !== undefined && verifies(first.secret, received)).toBe(true);
  });

  it("redeliver sends the callback again at once: the same webhook-id and body, verifying with the account's secret", async () => {
    const { secret } = await adminData<SecretData>("GET", "/accounts/alpha/webhook-secret");
    const startedAt = Date.now();
    const answer = await adminCall<DeliveryData>("POST", `/callbacks/${delivery.id}/redeliver`);
    expect(answer.status).toBe(200);
    expect(answer.body.data).toMatchObject({ id: delivery.id, taskId, state: "pending", attempts: 1 });

    const [first, second] = await eventually(() => {
      const requests = requestsFor(receiver, taskId);
      return requests.length >= 2 ? requests : undefined;
    }, "the redelivery", 3_000);
    if (first === undefined || second === undefined) throw new Error("no redelivery");
    // The sender would find it at its next poll, a second after it went idle; the route wakes it.
    expect(Date.now() - startedAt).toBeLessThan(800);
    expect(headerOf(second, "webhook-id")).toBe(delivery.id);
    expect(second.body).toBe(first.body);
    expect(verifies(secret, second)).toBe(true);

    const details = await settledDelivery(delivery.id, 2);
    expect(details.delivery).toMatchObject({ state: "delivered", attempts: 2, lastStatus: 200, lastError: null, nextAttemptAt: null });
    expect(details.attempts.map((attempt) => attempt.status)).toEqual([200, 200]);
  });

  it("rotate replaces the secret: the next delivery verifies with the new one only", async () => {
    const old = await adminData<SecretData>("GET", "/accounts/alpha/webhook-secret");
    const rotated = await adminData<SecretData>("POST", "/accounts/alpha/webhook-secret/rotate");
    expect(rotated).toEqual({ accountId: harness.accountId, account: "alpha", secret: expect.stringMatching(WEBHOOK_SECRET) });
    expect(rotated.secret).not.toBe(old.secret);
    expect(await adminData<SecretData>("GET", "/accounts/alpha/webhook-secret")).toEqual(rotated);

    const newTaskId = await createTaskWithCallback(harness, receiver.url, "after the rotation");
    const received = await eventually(() => requestsFor(receiver, newTaskId)[0], "the callback after the rotation");
    expect(verifies(rotated.secret, received)).toBe(true);
    expect(verifies(old.secret, received)).toBe(false);
  });

  it("answers 404 for an unknown delivery or account", async () => {
    for (const [method, path] of [
      ["GET", "/callbacks/msg_unknown"],
      ["POST", "/callbacks/msg_unknown/redeliver"],
    ] as const) {
      const answer = await adminCall(method, path);
      expect(answer.status).toBe(404);
      expect(answer.body).toEqual(failureOf(404, "no callback delivery with id msg_unknown"));
    }
    for (const [method, path] of [
      ["GET", "/accounts/nobody/webhook-secret"],
      ["POST", "/accounts/nobody/webhook-secret/rotate"],
      ["GET", "/callbacks?account=nobody"],
    ] as const) {
      const answer = await adminCall(method, path);
      expect(answer.status).toBe(404);
      expect(answer.body).toEqual(failureOf(404, "no account named nobody"));
    }
  });

  it("answers 422 naming the parameter for a bad state or limit", async () => {
    const state = await adminCall("GET", "/callbacks?state=sent");
    expect(state.status).toBe(422);
    expect(state.body).toEqual(failureOf(422, "state must be one of pending, delivered, failed"));
    const limit = await adminCall("GET", "/callbacks?limit=0");
    expect(limit.status).toBe(422);
    expect(limit.body).toEqual(failureOf(422, "limit must be a whole number from 1 to 1000"));
  });

  it("refuses an account's API key on every one of these routes with 401, changing nothing", async () => {
    const before = await adminData<SecretData>("GET", "/accounts/alpha/webhook-secret");
    const attemptsBefore = (await adminData<DeliveryDetailsData>("GET", `/callbacks/${delivery.id}`)).attempts.length;
    for (const [method, path] of [
      ["GET", "/accounts/alpha/webhook-secret"],
      ["POST", "/accounts/alpha/webhook-secret/rotate"],
      ["GET", "/callbacks"],
      ["GET", `/callbacks/${delivery.id}`],
      ["POST", `/callbacks/${delivery.id}/redeliver`],
    ] as const) {
      const answer = await call(harness.baseUrl, method, `/admin/v1${path}`, { key: harness.key });
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual(failureOf(401, "Authentication failed: account API keys cannot use the admin API; send the admin key."));
    }
    expect(await adminData<SecretData>("GET", "/accounts/alpha/webhook-secret")).toEqual(before);
    const after = await adminData<DeliveryDetailsData>("GET", `/callbacks/${delivery.id}`);
    expect(after.delivery.state).toBe("delivered");
    expect(after.attempts).toHaveLength(attemptsBefore);
  });

  it("writes the rotation and the redelivery to the audit trail as admin-api", async () => {
    const audit = await adminData<AuditData[]>("GET", "/audit?limit=1000");
    expect(audit).toContainEqual({
      at: expect.any(Number),
      actor: "admin-api",
      action: "webhook-secret.rotate",
      target: harness.accountId,
      details: {},
    });
    expect(audit).toContainEqual({
      at: expect.any(Number),
      actor: "admin-api",
      action: "callback.redeliver",
      target: delivery.id,
      details: { taskId, account: harness.accountId, previousState: "delivered" },
    });
    expect(JSON.stringify(audit)).not.toContain("whsec_");
  });

  it("describes the new routes in /openapi.json under the admin tag", async () => {
    const document = (await (await fetch(`${harness.baseUrl}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { tags: string[]; security: Record<string, string[]>[] }>>;
    };
    for (const [path, method] of [
      ["/admin/v1/accounts/{account}/webhook-secret", "get"],
      ["/admin/v1/accounts/{account}/webhook-secret/rotate", "post"],
      ["/admin/v1/callbacks", "get"],
      ["/admin/v1/callbacks/{deliveryId}", "get"],
      ["/admin/v1/callbacks/{deliveryId}/redeliver", "post"],
    ] as const) {
      expect(document.paths[path]?.[method]).toMatchObject({ tags: ["admin"], security: [{ adminBearer: [] }] });
    }
  });
});

/** A successful command: exit 0, nothing on stderr. */
function succeeded(run: CliRun): string {
  expect(run.stderr).toBe("");
  expect(run.exitCode).toBe(0);
  return run.stdout;
}

function json<T>(run: CliRun): T {
  return JSON.parse(succeeded(run)) as T;
}

describe("imagegate accounts webhook-secret and callbacks commands", { timeout: COMMAND_TIMEOUT_MS }, () => {
  let dataDir: string;
  let harness: TestServer;
  let receiver: CallbackReceiver;
  let taskId: string;
  let deliveryId: string;
  /** The secret in force after the rotation test. */
  let currentSecret = "";
  const admin = (args: readonly string[]): Promise<CliRun> => runImagegate(args, { DATA_DIR: dataDir, LOG_LEVEL: "silent" });

  beforeAll(async () => {
    dataDir = await temporaryDirectory("imagegate-admin-callbacks-");
    receiver = await startCallbackReceiver();
    // A server on the same database sends the callbacks the commands are about.
    harness = await startTestServer({ DATA_DIR: dataDir, CALLBACK_ALLOW_PRIVATE: "true" });
    taskId = await createTaskWithCallback(harness, receiver.url);
    const received = await eventually(() => requestsFor(receiver, taskId)[0], "the first callback");
    deliveryId = headerOf(received, "webhook-id");
    await eventually(async () => {
      const current = await harness.server.store.outbox.get(deliveryId);
      return current?.state === "delivered" ? current : undefined;
    }, "the delivery to be recorded");
  }, COMMAND_TIMEOUT_MS);

  afterAll(async () => {
    await harness.close();
    await receiver.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("webhook-secret prints the secret the callbacks were signed with, the same each time; --rotate prints a new one", async () => {
    const [first, second, asJson, unknown] = await Promise.all([
      admin(["accounts", "webhook-secret", "alpha"]),
      admin(["accounts", "webhook-secret", harness.accountId]),
      admin(["accounts", "webhook-secret", "alpha", "--json"]),
      admin(["accounts", "webhook-secret", "nobody"]),
    ]);
    const secret = succeeded(first).trim();
    expect(secret).toMatch(WEBHOOK_SECRET);
    expect(Buffer.from(secret.slice("whsec_".length), "base64")).toHaveLength(32);
    expect(succeeded(second).trim()).toBe(secret);
    expect(json<SecretData>(asJson)).toEqual({ accountId: harness.accountId, account: "alpha", secret });
    const [received] = requestsFor(receiver, taskId);
    expect(received !== undefined && verifies(secret, received)).toBe(true);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stdout).toBe("");
    expect(linesOf(unknown.stderr)).toEqual(["imagegate: no account named nobody"]);

    const rotated = linesOf(succeeded(await admin(["accounts", "webhook-secret", "alpha", "--rotate"])));
    expect(rotated).toEqual([
      "rotated the webhook secret of alpha; callbacks are signed with this one from now on:",
      expect.stringMatching(WEBHOOK_SECRET),
    ]);
    const newSecret = rotated[1] ?? "";
    expect(newSecret).not.toBe(secret);
    expect(await harness.server.accounts.webhookSecretOf(harness.accountId)).toBe(newSecret);
    currentSecret = newSecret;
  });

  it("callbacks list shows the delivery, as a table or JSON, filtered by account, task and state", async () => {
    const [table, asJson, failed] = await Promise.all([
      admin(["callbacks", "list", "--account", "alpha"]),
      admin(["callbacks", "list", "--task", taskId, "--state", "delivered", "--limit", "5", "--json"]),
      admin(["callbacks", "list", "--state", "failed"]),
    ]);
    const lines = linesOf(succeeded(table));
    expect(lines[0]).toMatch(/^DELIVERY +TASK +ACCOUNT +STATE +ATTEMPTS +STATUS +UPDATED +ERROR$/);
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^${deliveryId}  ${taskId}  alpha +delivered +1  200 +${ISO_TIME}  -$`)),
    );
    expect(json<DeliveryData[]>(asJson)).toEqual([
      expect.objectContaining({ id: deliveryId, taskId, accountName: "alpha", state: "delivered", lastStatus: 200, url: receiver.url }),
    ]);
    expect(succeeded(failed).trim()).toBe("no callback deliveries match");
  });

  it("callbacks show prints the delivery and its attempts as a table: time, status, duration, error", async () => {
    const [text, asJson, unknown] = await Promise.all([
      admin(["callbacks", "show", deliveryId]),
      admin(["callbacks", "show", deliveryId, "--json"]),
      admin(["callbacks", "show", "msg_unknown"]),
    ]);
    const lines = linesOf(succeeded(text));
    expect(lines.slice(0, 5)).toEqual([
      `delivery   ${deliveryId}`,
      `task       ${taskId}`,
      `account    alpha (${harness.accountId})`,
      `url        ${receiver.url}`,
      "state      delivered",
    ]);
    expect(lines).toContainEqual(expect.stringMatching(/^payload {4}\{"code":200,"msg":"success","data":\{/));
    const header = lines.findIndex((line) => /^TIME +STATUS +DURATION +ERROR$/.test(line));
    expect(header).toBeGreaterThan(0);
    expect(lines.slice(header + 1)).toEqual([expect.stringMatching(new RegExp(`^${ISO_TIME}  200 +\\d+ ms  -$`))]);

    const details = json<DeliveryDetailsData>(asJson);
    expect(details.delivery).toMatchObject({ id: deliveryId, taskId, state: "delivered", payload: requestsFor(receiver, taskId)[0]?.body });
    expect(details.attempts).toEqual([{ at: expect.any(Number), status: 200, durationMs: expect.any(Number), error: null }]);

    expect(unknown.exitCode).toBe(1);
    expect(unknown.stdout).toBe("");
    expect(linesOf(unknown.stderr)).toEqual(["imagegate: no callback delivery with id msg_unknown"]);
  });

  it("callbacks redeliver queues the delivery; the running server sends it at its next poll and records the attempt", async () => {
    const before = requestsFor(receiver, taskId).length;
    const queued = await admin(["callbacks", "redeliver", deliveryId]);
    expect(succeeded(queued).trim()).toBe(
      `queued ${deliveryId} (task ${taskId}) for redelivery; the running server sends it within a second`,
    );
    const again = await eventually(() => requestsFor(receiver, taskId)[before], "the redelivery", 5_000);
    expect(headerOf(again, "webhook-id")).toBe(deliveryId);
    expect(verifies(currentSecret, again)).toBe(true);

    const details = await eventually(async () => {
      const attempts = await harness.server.store.outbox.attempts(deliveryId);
      return attempts.length === 2 ? attempts : undefined;
    }, "the second attempt to be recorded");
    expect(details.map((attempt) => attempt.status)).toEqual([200, 200]);

    const [auditRun, unknown] = await Promise.all([admin(["audit", "--json"]), admin(["callbacks", "redeliver", "msg_unknown"])]);
    const audit = json<AuditData[]>(auditRun);
    expect(audit).toContainEqual(expect.objectContaining({ actor: "cli", action: "callback.redeliver", target: deliveryId }));
    expect(audit).toContainEqual(expect.objectContaining({ actor: "cli", action: "webhook-secret.rotate", target: harness.accountId }));
    expect(unknown.exitCode).toBe(1);
    expect(linesOf(unknown.stderr)).toEqual(["imagegate: no callback delivery with id msg_unknown"]);
  });
});
