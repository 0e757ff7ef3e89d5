import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { call, MODEL, startTestServer, waitForTerminal, type TestServer } from "../helpers/test-server.ts";

let harness: TestServer | null = null;
afterEach(async () => {
  await harness?.close();
  harness = null;
});

describe("the log line of a task that succeeded", () => {
  it("accounts for where the task's time went", async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    harness = await startTestServer({ SANDBOX_LATENCY_MS: "30" }, { logger });
    const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
      key: harness.key,
      body: { model: MODEL, input: { prompt: "a timed lighthouse", output_format: "jpeg" } },
    });
    const taskId = created.body.data.taskId;
    const { record } = await waitForTerminal(harness.baseUrl, harness.key, taskId);
    expect(record.state).toBe("success");

    const line = lines.find((entry) => entry.msg === "task succeeded" && entry.taskId === taskId);
    expect(line).toMatchObject({
      provider: "sandbox",
      costTime: record.costTime,
      pickupMs: expect.any(Number),
      upstreamMs: expect.any(Number),
      processMs: expect.any(Number),
      storeMs: expect.any(Number),
    });
    const { costTime, pickupMs, upstreamMs, processMs, storeMs } = line as Record<"costTime" | "pickupMs" | "upstreamMs" | "processMs" | "storeMs", number>;
    expect(upstreamMs).toBeGreaterThanOrEqual(30);
    for (const part of [pickupMs, processMs, storeMs]) expect(part).toBeGreaterThanOrEqual(0);
    // Disjoint stretches of the task's time; the upstream's is rounded from a finer clock.
    expect(pickupMs + upstreamMs + processMs + storeMs).toBeLessThanOrEqual(costTime + 1);
  });
});
