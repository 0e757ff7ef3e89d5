import { createHmac } from "node:crypto";
import { rm } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import path from "node:path";
import { Writable } from "node:stream";
import SqliteDatabase from "better-sqlite3";
import pino from "pino";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { openSqliteStore, type SqliteStore } from "../../src/db/sqlite-store.ts";
import { SqliteCallbackOutbox } from "../../src/db/sqlite-callback-outbox.ts";
import { SqliteGroupCommit } from "../../src/db/sqlite-group-commit.ts";
import { AccountService } from "../../src/domain/accounts/account-service.ts";
import type { CallbackDelivery } from "../../src/domain/callbacks/callback.ts";
import { newId } from "../../src/domain/ids.ts";
import { createGuardedFetch } from "../../src/net/guarded-fetch.ts";
import { CallbackSender, type CallbackSenderOptions } from "../../src/worker/callback-sender.ts";
import { demoKeyOf, startServerProcess, type ServerProcess } from "../helpers/server-process.ts";
import { storedTask } from "../helpers/tasks.ts";
import { call, freePort, MODEL, startTestServer, temporaryDirectory, type TestServer } from "../helpers/test-server.ts";

const HOUR_MS = 3_600_000;

// ---------------------------------------------------------------------------------------------
// A real receiver: node:http on 127.0.0.1, recording every request it gets.

interface ReceivedCallback {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

type Answer = (request: ReceivedCallback, response: ServerResponse) => void;

interface Receiver {
  port: number;
  url: string;
  requests: ReceivedCallback[];
  /** Replaces how the receiver answers from the next request on. */
  answerWith(answer: Answer): void;
}

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const answerOk: Answer = (_request, response) => {
  response.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
};

function answerStatus(status: number, headers: Record<string, string> = {}): Answer {
  return (_request, response) => {
    response.writeHead(status, headers).end();
  };
}

async function startReceiver(options: { port?: number; answer?: Answer } = {}): Promise<Receiver> {
  const requests: ReceivedCallback[] = [];
  let answer = options.answer ?? answerOk;
  const sockets = new Set<Socket>();
  const server: Server = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const received = {
        method: request.method ?? "",
        path: request.url ?? "",
        headers: request.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      requests.push(received);
      answer(received, response);
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return {
    port,
    url: `http://127.0.0.1:${port}/hooks/imagegate?token=receiver-token`,
    requests,
    answerWith(next) {
      answer = next;
    },
  };
}

/** Waits for something a real server or process does on its own; the clock is not involved. */
async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function header(received: ReceivedCallback, name: string): string {
  const value = received.headers[name];
  if (typeof value !== "string") throw new Error(`header ${name} missing`);
  return value;
}

/** The contract's X-Webhook-Signature, computed here from the secret rather than by the module. */
function simpleSignature(secret: string, taskId: string, timestamp: string): string {
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  return createHmac("sha256", key).update(`${taskId}.${timestamp}`).digest("base64");
}

/** The outbox of a data directory, read over a second connection as an operator's tool would. */
function outboxOf(dataDir: string): SqliteCallbackOutbox {
  const database = new SqliteDatabase(path.join(dataDir, "imagegate.db"));
  cleanups.push(async () => {
    database.close();
  });
  return new SqliteCallbackOutbox(database, new SqliteGroupCommit(database));
}

async function onlyDelivery(outbox: SqliteCallbackOutbox, taskId: string): Promise<CallbackDelivery> {
  const deliveries = await outbox.list({ taskId, limit: 10 });
  expect(deliveries).toHaveLength(1);
  const [delivery] = deliveries;
  if (delivery === undefined) throw new Error("no delivery");
  return delivery;
}

async function createTask(harness: { baseUrl: string; key: string }, prompt: string, callBackUrl: string): Promise<string> {
  const answer = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
    key: harness.key,
    body: { model: MODEL, input: { prompt }, callBackUrl },
  });
  expect(answer.status).toBe(200);
  return answer.body.data.taskId;
}

async function recordInfoText(baseUrl: string, key: string, taskId: string): Promise<string> {
  const response = await fetch(`${baseUrl}/api/v1/jobs/recordInfo?taskId=${taskId}`, {
    headers: { Authorization: `Bearer ${key}` },
  });
  expect(response.status).toBe(200);
  return response.text();
}

async function startServer(env: Record<string, string>): Promise<TestServer> {
  const harness = await startTestServer({ SANDBOX_LATENCY_MS: "20", ...env });
  cleanups.push(() => harness.close());
  return harness;
}

// ---------------------------------------------------------------------------------------------

describe("callbacks from a running server", () => {
  it.each([
    ["success", "a lighthouse at dusk"],
    ["fail", "please [sandbox:fail]"],
  ])("a %s task POSTs exactly its recordInfo body, signed both ways", async (state, prompt) => {
    const receiver = await startReceiver();
    const harness = await startServer({ CALLBACK_ALLOW_PRIVATE: "true" });
    const secret = await harness.server.accounts.webhookSecretOf(harness.accountId);
    const taskId = await createTask(harness, prompt, receiver.url);

    const received = await eventually(() => receiver.requests[0], "the callback");
    const recordInfo = await recordInfoText(harness.baseUrl, harness.key, taskId);
    expect(received.method).toBe("POST");
    expect(received.path).toBe("/hooks/imagegate?token=receiver-token");
    expect(received.body).toBe(recordInfo);
    expect(JSON.parse(received.body)).toMatchObject({ code: 200, msg: "success", data: { taskId, state } });
    expect(header(received, "content-type")).toBe("application/json");

    const timestamp = header(received, "x-webhook-timestamp");
    expect(header(received, "webhook-timestamp")).toBe(timestamp);
    expect(Math.abs(Number(timestamp) - Date.now() / 1_000)).toBeLessThan(30);
    expect(header(received, "webhook-id")).toMatch(/^msg_[0-9a-z]{26}$/);
    expect(new Webhook(secret).verify(received.body, { ...received.headers } as Record<string, string>)).toEqual(
      JSON.parse(recordInfo),
    );
    expect(header(received, "x-webhook-signature")).toBe(simpleSignature(secret, taskId, timestamp));

    const wrongSecret = "whsec_" + Buffer.alloc(32, 7).toString("base64");
    expect(() => new Webhook(wrongSecret).verify(received.body, { ...received.headers } as Record<string, string>)).toThrow();
    expect(header(received, "x-webhook-signature")).not.toBe(simpleSignature(wrongSecret, taskId, timestamp));

    const outbox = outboxOf(harness.dataDir);
    const delivery = await eventually(async () => {
      const current = await onlyDelivery(outbox, taskId);
      return current.state === "delivered" ? current : undefined;
    }, "the delivery to be recorded");
    expect(delivery).toMatchObject({ id: header(received, "webhook-id"), attempts: 1, lastStatus: 200, lastError: null });
    expect(receiver.requests).toHaveLength(1);
  });

  it("never contacts a loopback receiver by default: the delivery fails with the reason", async () => {
    const receiver = await startReceiver();
    const harness = await startServer({});
    const taskId = await createTask(harness, "a quiet harbour", receiver.url);
    const outbox = outboxOf(harness.dataDir);
    const delivery = await eventually(async () => {
      const deliveries = await outbox.list({ taskId, limit: 10 });
      return deliveries.find((candidate) => candidate.state === "failed");
    }, "the delivery to fail");
    expect(delivery).toMatchObject({
      attempts: 1,
      lastStatus: null,
      lastError: "refused: callBackUrl host 127.0.0.1 is a loopback address",
    });
    const attempts = await outbox.attempts(delivery.id);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ status: null, error: "refused: callBackUrl host 127.0.0.1 is a loopback address" });
    expect(receiver.requests).toHaveLength(0);
  });

  it("reaches a non-public receiver inside CALLBACK_ALLOW_NETWORKS", async () => {
    const receiver = await startReceiver();
    const harness = await startServer({ CALLBACK_ALLOW_NETWORKS: "10.0.0.0/8, 127.0.0.0/8" });
    const taskId = await createTask(harness, "an allowed network", receiver.url);
    const received = await eventually(() => receiver.requests[0], "the callback");
    expect(JSON.parse(received.body)).toMatchObject({ data: { taskId, state: "success" } });
  });
});

describe("callback configuration", () => {
  it("defaults to refusing private addresses with a 15 s timeout", () => {
    const config = loadConfig({});
    expect(config.callbackAllowPrivate).toBe(false);
    expect(config.callbackAllowNetworks).toEqual([]);
    expect(config.callbackTimeoutMs).toBe(15_000);
  });

  it.each([
    [{ CALLBACK_ALLOW_PRIVATE: "yes" }, /^CALLBACK_ALLOW_PRIVATE must be true or false, got "yes"$/],
    [{ CALLBACK_ALLOW_NETWORKS: "10.0.0.0/8,10.1.2.3/8" }, /^CALLBACK_ALLOW_NETWORKS .*"10\.1\.2\.3\/8"$/],
    [{ CALLBACK_ALLOW_NETWORKS: "intranet" }, /^CALLBACK_ALLOW_NETWORKS .*"intranet"$/],
    [{ CALLBACK_TIMEOUT_MS: "soon" }, /^CALLBACK_TIMEOUT_MS must be a whole number/],
  ])("rejects %j, naming the variable", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});

// ---------------------------------------------------------------------------------------------
// The schedule, driven by a fake clock over a fresh store: runOnce() sends whatever is due "now".

interface Rig {
  store: SqliteStore;
  sender: CallbackSender;
  secret: string;
  clock: { now(): number; advance(ms: number): void; set(at: number): void };
  logs: string[];
  /** Settles a task with a callback to `url`, as the workers do: the outbox row is written with it. */
  settle(url: string, outcome?: "success" | "fail"): Promise<{ taskId: string; deliveryId: string; payload: string }>;
  delivery(deliveryId: string): Promise<CallbackDelivery>;
}

async function rig(options: Partial<CallbackSenderOptions> = {}): Promise<Rig> {
  const dataDir = await temporaryDirectory();
  const store = await openSqliteStore(dataDir);
  cleanups.push(async () => {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  // Close to real time, so standardwebhooks' five-minute tolerance still accepts the early attempts.
  let now = Math.floor(Date.now() / 1_000) * 1_000;
  const clock = {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
    set: (at: number) => {
      now = at;
    },
  };
  const accounts = new AccountService(store.accounts, clock);
  const account = await accounts.createAccount("alpha");
  if (!account.ok) throw new Error(account.message);
  const accountId = account.value.id;
  const secret = await accounts.webhookSecretOf(accountId);
  const logs: string[] = [];
  const logger = pino(
    { level: "debug" },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(chunk.toString());
        done();
      },
    }),
  );
  const timeoutMs = options.timeoutMs ?? 2_000;
  const sender = new CallbackSender(
    {
      outbox: store.outbox,
      secretOf: (id) => accounts.webhookSecretOf(id),
      transport: createGuardedFetch({ policy: { allowPrivate: true, allowNetworks: [] }, timeoutMs, urlName: "callBackUrl" }),
      clock,
      // The middle of the jitter: every delay is exactly the schedule's.
      random: () => 0.5,
      logger,
      leaseOwner: "run_test",
    },
    { concurrency: 4, pollIntervalMs: 1_000, leaseMs: 60_000, ...options, timeoutMs },
  );
  cleanups.push(() => sender.stop(1_000));

  return {
    store,
    sender,
    secret,
    clock,
    logs,
    async settle(url, outcome = "success") {
      const at = clock.now();
      const task = storedTask(accountId, at, {
        state: "waiting",
        param: JSON.stringify({ model: MODEL, input: { prompt: "a schedule test" }, callBackUrl: url }),
        input: JSON.stringify({ prompt: "a schedule test" }),
        callbackUrl: url,
        createTime: at - 1_500,
        updateTime: at - 1_500,
        deadlineTime: at + HOUR_MS,
        attempts: 1,
      });
      expect(await store.tasks.create(task, { activeLimit: 1_000, price: 0 })).toBe("created");
      const deliveryId = newId("msg", at);
      const change =
        outcome === "success"
          ? { state: "success" as const, resultJson: JSON.stringify({ resultUrls: ["http://127.0.0.1/files/x.png"] }) }
          : { state: "fail" as const, failCode: "PROVIDER_ERROR" as const, failMsg: "The image model failed." };
      const settled = await store.tasks.transition(task.id, ["waiting"], {
        ...change,
        completeTime: at,
        updateTime: at,
        callbackId: deliveryId,
      });
      expect(settled?.state).toBe(outcome);
      const delivery = await store.outbox.get(deliveryId);
      if (delivery === null) throw new Error("the settle wrote no outbox row");
      return { taskId: task.id, deliveryId, payload: delivery.payload };
    },
    async delivery(deliveryId) {
      const delivery = await store.outbox.get(deliveryId);
      if (delivery === null) throw new Error(`no delivery ${deliveryId}`);
      return delivery;
    },
  };
}

function verifies(secret: string, received: ReceivedCallback): boolean {
  try {
    new Webhook(secret).verify(received.body, { ...received.headers } as Record<string, string>);
    return true;
  } catch {
    return false;
  }
}

describe("callback retries, on a fake clock", () => {
  it("retries a failing receiver on the schedule and delivers once it recovers", async () => {
    const receiver = await startReceiver({ answer: answerStatus(500) });
    const { sender, clock, settle, delivery: current, store, secret, logs } = await rig();
    const { taskId, deliveryId, payload } = await settle(receiver.url);
    const settledAt = clock.now();

    await sender.runOnce();
    expect(receiver.requests).toHaveLength(1);
    expect(await current(deliveryId)).toMatchObject({ state: "pending", attempts: 1, nextAttemptAt: settledAt + 5_000 });

    clock.advance(4_999);
    await sender.runOnce();
    expect(receiver.requests).toHaveLength(1);

    clock.advance(1);
    await sender.runOnce();
    expect(receiver.requests).toHaveLength(2);
    expect(await current(deliveryId)).toMatchObject({ state: "pending", attempts: 2, nextAttemptAt: settledAt + 35_000 });

    receiver.answerWith(answerOk);
    clock.set(settledAt + 35_000);
    await sender.runOnce();
    expect(receiver.requests).toHaveLength(3);
    expect(await current(deliveryId)).toMatchObject({
      state: "delivered",
      attempts: 3,
      deliveredAt: settledAt + 35_000,
      lastStatus: 200,
      lastError: null,
    });

    // Every attempt carries the same body and webhook-id, signed with the time it was sent.
    for (const [index, received] of receiver.requests.entries()) {
      expect(received.body).toBe(payload);
      expect(header(received, "webhook-id")).toBe(deliveryId);
      expect(header(received, "x-webhook-timestamp")).toBe(String(([0, 5, 35][index] ?? 0) + settledAt / 1_000));
      expect(verifies(secret, received)).toBe(true);
      expect(header(received, "x-webhook-signature")).toBe(simpleSignature(secret, taskId, header(received, "x-webhook-timestamp")));
    }
    const attempts = await store.outbox.attempts(deliveryId);
    expect(attempts.map((attempt) => [attempt.at - settledAt, attempt.status, attempt.error])).toEqual([
      [0, 500, "receiver answered 500"],
      [5_000, 500, "receiver answered 500"],
      [35_000, 200, null],
    ]);
    for (const attempt of attempts) {
      expect(Number.isInteger(attempt.durationMs)).toBe(true);
      expect(attempt.durationMs).toBeGreaterThanOrEqual(0);
    }

    await sender.runOnce();
    clock.advance(25 * HOUR_MS);
    await sender.runOnce();
    expect(receiver.requests).toHaveLength(3);

    // Logs say which delivery, task, host, status and attempt; never the secret or the body.
    const lines = logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => [line.msg, line.attempt, line.status])).toEqual([
      ["callback attempt failed; will retry", 1, 500],
      ["callback attempt failed; will retry", 2, 500],
      ["callback delivered", 3, 200],
    ]);
    for (const line of lines) {
      expect(line).toMatchObject({ deliveryId, taskId, host: `127.0.0.1:${receiver.port}` });
    }
    const text = logs.join("");
    expect(text).not.toContain(secret);
    expect(text).not.toContain(secret.slice("whsec_".length));
    expect(text).not.toContain("resultUrls");
    expect(text).not.toContain("receiver-token");
  });

  it("treats a receiver slower than the timeout as a failed attempt", async () => {
    let respond = true;
    const receiver = await startReceiver({
      answer: (_request, response) => {
        // Answers well after the sender's 150 ms, unless told to hurry.
        const delay = respond ? 1_500 : 0;
        setTimeout(() => {
          if (!response.destroyed) response.writeHead(200).end("late");
        }, delay).unref();
      },
    });
    const { sender, clock, settle, delivery: current, store } = await rig({ timeoutMs: 150 });
    const { deliveryId } = await settle(receiver.url);
    const settledAt = clock.now();

    const started = performance.now();
    await sender.runOnce();
    expect(performance.now() - started).toBeLessThan(1_400);
    expect(receiver.requests).toHaveLength(1);
    expect(await current(deliveryId)).toMatchObject({
      state: "pending",
      lastStatus: null,
      lastError: "timed out after 150 ms",
      nextAttemptAt: settledAt + 5_000,
    });
    const [attempt] = await store.outbox.attempts(deliveryId);
    expect(attempt?.durationMs).toBeGreaterThanOrEqual(140);
    expect(attempt?.durationMs).toBeLessThan(1_400);

    respond = false;
    clock.advance(5_000);
    await sender.runOnce();
    expect(await current(deliveryId)).toMatchObject({ state: "delivered", attempts: 2 });
  });

  it("waits as long as a 429's Retry-After: 120 asks", async () => {
    const receiver = await startReceiver({ answer: answerStatus(429, { "Retry-After": "120" }) });
    const { sender, clock, settle, delivery: current, store } = await rig();
    const { deliveryId } = await settle(receiver.url);
    const settledAt = clock.now();

    await sender.runOnce();
    expect(await current(deliveryId)).toMatchObject({
      state: "pending",
      lastStatus: 429,
      lastError: "receiver answered 429 (Retry-After: 120)",
      nextAttemptAt: settledAt + 120_000,
    });
    receiver.answerWith(answerOk);
    clock.advance(119_999);
    await sender.runOnce();
    expect(receiver.requests).toHaveLength(1);
    clock.advance(1);
    await sender.runOnce();
    expect(receiver.requests).toHaveLength(2);
    expect((await store.outbox.attempts(deliveryId)).map((attempt) => attempt.at - settledAt)).toEqual([0, 120_000]);
    expect(await current(deliveryId)).toMatchObject({ state: "delivered" });
  });

  it("reads a 503's Retry-After given as an HTTP date", async () => {
    const { sender, clock, settle, delivery: current } = await rig();
    const receiver = await startReceiver({
      answer: (_request, response) => {
        response.writeHead(503, { "Retry-After": new Date(clock.now() + 600_000).toUTCString() }).end();
      },
    });
    const { deliveryId } = await settle(receiver.url);
    await sender.runOnce();
    const delivery = await current(deliveryId);
    expect(delivery).toMatchObject({ state: "pending", lastStatus: 503 });
    expect(delivery.nextAttemptAt).toBe(clock.now() + 600_000);
  });

  it("gives up at once on 410 Gone", async () => {
    const receiver = await startReceiver({ answer: answerStatus(410) });
    const { sender, clock, settle, delivery: current, store } = await rig();
    const { deliveryId } = await settle(receiver.url, "fail");

    await sender.runOnce();
    expect(await current(deliveryId)).toMatchObject({
      state: "failed",
      attempts: 1,
      lastStatus: 410,
      lastError: "receiver answered 410 Gone",
      deliveredAt: null,
    });
    for (const step of [5_000, 60_000, 25 * HOUR_MS]) {
      clock.advance(step);
      await sender.runOnce();
    }
    expect(receiver.requests).toHaveLength(1);
    expect(await store.outbox.attempts(deliveryId)).toHaveLength(1);
  });

  it("does not follow a redirect, and retries", async () => {
    const elsewhere = await startReceiver();
    const receiver = await startReceiver({
      answer: answerStatus(302, { Location: `http://127.0.0.1:${elsewhere.port}/other` }),
    });
    const { sender, clock, settle, delivery: current } = await rig();
    const { deliveryId } = await settle(receiver.url);
    const settledAt = clock.now();

    await sender.runOnce();
    expect(elsewhere.requests).toHaveLength(0);
    expect(await current(deliveryId)).toMatchObject({
      state: "pending",
      lastStatus: 302,
      lastError: `redirect to 127.0.0.1:${elsewhere.port} not followed`,
      nextAttemptAt: settledAt + 5_000,
    });
    clock.advance(5_000);
    await sender.runOnce();
    expect(receiver.requests).toHaveLength(2);
    expect(elsewhere.requests).toHaveLength(0);
  });

  it("retries a receiver that is down, and gives up after 24 hours with every attempt recorded", async () => {
    const port = await freePort();
    const { sender, clock, settle, delivery: current, store } = await rig();
    const { deliveryId } = await settle(`http://127.0.0.1:${port}/down`);
    const createdAt = clock.now();

    for (let round = 0; round < 40; round += 1) {
      await sender.runOnce();
      const delivery = await current(deliveryId);
      if (delivery.state !== "pending") break;
      clock.set(delivery.nextAttemptAt);
    }
    const delivery = await current(deliveryId);
    const attempts = await store.outbox.attempts(deliveryId);
    expect(delivery.state).toBe("failed");
    expect(delivery.attempts).toBe(attempts.length);
    expect(delivery.lastError).toBe(`connection refused (ECONNREFUSED); gave up after ${attempts.length} attempts over 24 h`);
    // Schedule 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 10 h: the eleventh attempt is past 24 h.
    expect(attempts).toHaveLength(11);
    const last = attempts.at(-1);
    const beforeLast = attempts.at(-2);
    expect((last?.at ?? 0) - createdAt).toBeGreaterThanOrEqual(24 * HOUR_MS);
    expect((beforeLast?.at ?? 0) - createdAt).toBeLessThan(24 * HOUR_MS);
    for (const attempt of attempts) {
      expect(attempt.status).toBeNull();
      expect(attempt.durationMs).toBeGreaterThanOrEqual(0);
      expect(attempt.error).toMatch(/^connection refused \(ECONNREFUSED\)/);
    }

    clock.advance(48 * HOUR_MS);
    await sender.runOnce();
    expect(await store.outbox.attempts(deliveryId)).toHaveLength(11);
  });

  it("sends many due deliveries within its concurrency and records each once", async () => {
    let open = 0;
    let mostOpen = 0;
    const receiver = await startReceiver({
      answer: (_request, response) => {
        open += 1;
        mostOpen = Math.max(mostOpen, open);
        setTimeout(() => {
          open -= 1;
          response.writeHead(204).end();
        }, 20);
      },
    });
    const { sender, settle, store } = await rig({ concurrency: 3 });
    const ids: string[] = [];
    for (let index = 0; index < 10; index += 1) ids.push((await settle(receiver.url)).deliveryId);

    await sender.runOnce();
    expect(receiver.requests).toHaveLength(10);
    expect(mostOpen).toBeLessThanOrEqual(3);
    expect(new Set(receiver.requests.map((received) => header(received, "webhook-id")))).toEqual(new Set(ids));
    for (const id of ids) expect((await store.outbox.get(id))?.state).toBe("delivered");
  });

  it("sends at once when woken, without waiting for the poll", async () => {
    const receiver = await startReceiver();
    const { sender, settle } = await rig({ pollIntervalMs: 60_000 });
    sender.start();
    await settle(receiver.url);
    sender.wake();
    await eventually(() => receiver.requests[0], "the first woken send", 2_000);
    // The loop now sleeps for its 60 s poll; only wake() can make the second leave this soon.
    await settle(receiver.url);
    sender.wake();
    await eventually(() => receiver.requests[1], "the second woken send", 2_000);
    await sender.stop(1_000);
  });
});

// ---------------------------------------------------------------------------------------------

/** A list the test adds its server processes to; at cleanup each still running is killed and dataDir removed. */
function serverProcessesKilledAtCleanup(dataDir: string): ServerProcess[] {
  const servers: ServerProcess[] = [];
  cleanups.push(async () => {
    for (const server of servers) {
      if (server.child.exitCode === null && server.child.signalCode === null) {
        server.child.kill("SIGKILL");
        await server.exited;
      }
    }
    await rm(dataDir, { recursive: true, force: true });
  });
  return servers;
}

describe("callbacks survive a restart", () => {
  it("retries after SIGKILL once the receiver is up", async () => {
    const dataDir = await temporaryDirectory();
    const servers = serverProcessesKilledAtCleanup(dataDir);
    const env = { DATA_DIR: dataDir, SANDBOX_LATENCY_MS: "20", CALLBACK_ALLOW_PRIVATE: "true" };
    const serverPort = await freePort();
    const receiverPort = await freePort();
    const callBackUrl = `http://127.0.0.1:${receiverPort}/hook`;

    const first = await startServerProcess(env, serverPort);
    servers.push(first);
    const key = demoKeyOf(first.output());
    const taskId = await createTask({ baseUrl: first.baseUrl, key }, "a restart test", callBackUrl);
    const outbox = outboxOf(dataDir);
    const failed = await eventually(async () => {
      const deliveries = await outbox.list({ taskId, limit: 10 });
      return deliveries.find((delivery) => delivery.attempts === 1);
    }, "the first attempt");
    expect(failed).toMatchObject({ state: "pending", lastError: "connection refused (ECONNREFUSED)" });
    first.child.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");

    const receiver = await startReceiver({ port: receiverPort });
    const second = await startServerProcess(env, serverPort);
    servers.push(second);
    const received = await eventually(() => receiver.requests[0], "the callback after the restart", 12_000);
    expect(received.body).toBe(await recordInfoText(second.baseUrl, key, taskId));
    expect(header(received, "webhook-id")).toBe(failed.id);

    const delivered = await eventually(async () => {
      const delivery = await outbox.get(failed.id);
      return delivery?.state === "delivered" ? delivery : undefined;
    }, "the delivery to be recorded");
    expect(delivered.attempts).toBe(2);
    const [firstAttempt, secondAttempt] = await outbox.attempts(failed.id);
    // The first retry is due 5 s ±20% after the failed attempt, restart or not.
    expect((secondAttempt?.at ?? 0) - (firstAttempt?.at ?? 0)).toBeGreaterThanOrEqual(4_000);
    expect(secondAttempt).toMatchObject({ status: 200, error: null });
    expect(receiver.requests).toHaveLength(1);
  });

  it("sends again within seconds an attempt that SIGKILL interrupted, not after its 60 s lease", async () => {
    const dataDir = await temporaryDirectory();
    const servers = serverProcessesKilledAtCleanup(dataDir);
    // A receiver that takes the request and never answers: the attempt is in flight when killed.
    const receiver = await startReceiver({ answer: () => undefined });
    const env = { DATA_DIR: dataDir, SANDBOX_LATENCY_MS: "20", CALLBACK_ALLOW_PRIVATE: "true" };
    const serverPort = await freePort();

    const first = await startServerProcess(env, serverPort);
    servers.push(first);
    const key = demoKeyOf(first.output());
    const taskId = await createTask({ baseUrl: first.baseUrl, key }, "an interrupted callback", receiver.url);
    const interrupted = await eventually(() => receiver.requests[0], "the first attempt to reach the receiver");
    first.child.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");

    receiver.answerWith(answerOk);
    const second = await startServerProcess(env, serverPort);
    servers.push(second);
    const restartedAt = Date.now();
    const received = await eventually(() => receiver.requests[1], "the callback after the restart", 10_000);
    expect(Date.now() - restartedAt).toBeLessThan(10_000);

    // The same delivery as contracted: the same webhook-id and body, signed afresh.
    const outbox = outboxOf(dataDir);
    const delivery = await onlyDelivery(outbox, taskId);
    expect(header(received, "webhook-id")).toBe(delivery.id);
    expect(header(interrupted, "webhook-id")).toBe(delivery.id);
    expect(received.body).toBe(interrupted.body);
    expect(received.body).toBe(await recordInfoText(second.baseUrl, key, taskId));
    const reader = new SqliteDatabase(path.join(dataDir, "imagegate.db"), { readonly: true });
    const { secret } = reader.prepare("SELECT webhook_secret AS secret FROM accounts WHERE name = 'demo'").get() as { secret: string };
    reader.close();
    expect(verifies(secret, received)).toBe(true);
    expect(header(received, "x-webhook-signature")).toBe(simpleSignature(secret, taskId, header(received, "x-webhook-timestamp")));

    // The interrupted attempt was never recorded; the one after the restart delivered it.
    const delivered = await eventually(async () => {
      const current = await outbox.get(delivery.id);
      return current?.state === "delivered" ? current : undefined;
    }, "the delivery to be recorded");
    expect(delivered).toMatchObject({ attempts: 1, lastStatus: 200, lastError: null });
    expect(receiver.requests).toHaveLength(2);
  });
});
