import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { LazyRequestLogger } from "../../src/api/request-logger.ts";
import type { Clock } from "../../src/domain/clock.ts";
import { call, MODEL, startTestServer, waitForTerminal, type TestServer } from "../helpers/test-server.ts";

interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  [field: string]: unknown;
}

function capturingLogger(level: string): { logger: pino.Logger; lines: LogLine[]; text: () => string } {
  const raw: string[] = [];
  const logger = pino({ level }, { write: (line: string) => raw.push(line) });
  return {
    logger,
    get lines() {
      return raw.map((line) => JSON.parse(line) as LogLine);
    },
    text: () => raw.join(""),
  };
}

let harness: TestServer | null = null;
afterEach(async () => {
  await harness?.close();
  harness = null;
});

describe("the request log", () => {
  it("has one line per request with its id, route, status and time, and never the key", async () => {
    const log = capturingLogger("info");
    harness = await startTestServer({}, { logger: log.logger });
    const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
      key: harness.key,
      body: { model: MODEL, input: { prompt: "a logged lighthouse" } },
    });
    const asked = await call(harness.baseUrl, "GET", `/api/v1/jobs/recordInfo?taskId=${created.body.data.taskId}`, {
      key: harness.key,
      headers: { "X-Request-Id": "client-chosen-42" },
    });
    const refused = await call(harness.baseUrl, "GET", "/api/v1/jobs/recordInfo?taskId=x", { key: "ig_live_wrong" });

    const requests = log.lines.filter((line) => line.msg === "request");
    expect(requests).toEqual([
      expect.objectContaining({ reqId: created.headers.get("x-request-id"), method: "POST", url: "/api/v1/jobs/createTask", status: 200 }),
      expect.objectContaining({ reqId: "client-chosen-42", method: "GET", url: "/api/v1/jobs/recordInfo", status: asked.status }),
      expect.objectContaining({ reqId: refused.headers.get("x-request-id"), status: 401 }),
    ]);
    for (const line of requests) expect(line.ms).toEqual(expect.any(Number));
    expect(log.text()).not.toContain(harness.key);
    expect(log.text()).not.toContain("ig_live_wrong");
  });

  it("logs a failed request with the request's id", async () => {
    const log = capturingLogger("info");
    let broken = false;
    const clock: Clock = {
      now: () => {
        if (broken) throw new Error("the clock broke");
        return Date.now();
      },
    };
    harness = await startTestServer({}, { logger: log.logger, clock });
    broken = true;
    const answer = await call(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
      key: harness.key,
      body: { model: MODEL, input: { prompt: "a task the clock breaks" } },
    });
    broken = false;
    expect(answer.status).toBe(500);
    const requestId = answer.headers.get("x-request-id");
    expect(answer.body.msg).toContain(requestId);
    expect(log.lines.find((line) => line.msg === "request failed")).toMatchObject({
      reqId: requestId,
      level: 50,
      err: expect.objectContaining({ message: "the clock broke" }),
    });
  });
});

describe("the log line of a task that succeeded", () => {
  it("accounts for where the task's time went", async () => {
    const log = capturingLogger("info");
    harness = await startTestServer({ SANDBOX_LATENCY_MS: "30" }, { logger: log.logger });
    const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
      key: harness.key,
      body: { model: MODEL, input: { prompt: "a timed lighthouse", output_format: "jpeg" } },
    });
    const taskId = created.body.data.taskId;
    const { record } = await waitForTerminal(harness.baseUrl, harness.key, taskId);
    expect(record.state).toBe("success");

    const line = log.lines.find((entry) => entry.msg === "task succeeded" && entry.taskId === taskId);
    expect(line).toMatchObject({
      provider: "sandbox",
      costTime: record.costTime,
      pickupMs: expect.any(Number),
      upstreamMs: expect.any(Number),
      processMs: expect.any(Number),
      storeMs: expect.any(Number),
    });
    const { costTime, pickupMs, upstreamMs, processMs, storeMs } = line as LogLine & Record<"costTime" | "pickupMs" | "upstreamMs" | "processMs" | "storeMs", number>;
    // The sandbox's 30 ms wait is a timer on libuv's clock, cached at the start of the loop's turn and
    // in whole milliseconds: it can end up to a millisecond early by performance.now().
    expect(upstreamMs).toBeGreaterThanOrEqual(29);
    for (const part of [pickupMs, processMs, storeMs]) expect(part).toBeGreaterThanOrEqual(0);
    // Disjoint stretches of the task's time; the upstream's is rounded from a finer clock.
    expect(pickupMs + upstreamMs + processMs + storeMs).toBeLessThanOrEqual(costTime + 1);
  });
});

describe("LazyRequestLogger", () => {
  it("makes no child logger until it logs at an enabled level, then one, bound to the request", () => {
    const log = capturingLogger("info");
    let children = 0;
    const parent = log.logger;
    const makeChild = parent.child;
    parent.child = function (this: pino.Logger, ...args: Parameters<typeof makeChild>) {
      children += 1;
      return makeChild.apply(this, args);
    } as typeof makeChild;
    const logger = new LazyRequestLogger(parent, { reqId: "req_1" }, {});

    logger.debug("not at this level");
    logger.trace({ detail: 1 }, "nor this");
    expect(children).toBe(0);
    expect(logger.level).toBe("info");

    logger.info({ step: 1 }, "first");
    logger.warn("second");
    expect(children).toBe(1);
    expect(log.lines).toEqual([
      expect.objectContaining({ reqId: "req_1", step: 1, msg: "first", level: 30 }),
      expect.objectContaining({ reqId: "req_1", msg: "second", level: 40 }),
    ]);

    logger.child({ part: "inner" }).error("third");
    expect(log.lines.at(-1)).toMatchObject({ reqId: "req_1", part: "inner", msg: "third", level: 50 });
  });
});
