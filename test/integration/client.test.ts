import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImagegateApiError, ImagegateClient, type TaskRecord } from "../../src/client/client.ts";
import { MODEL, startTestServer, type TestServer } from "../helpers/test-server.ts";

let harness: TestServer;
beforeAll(async () => {
  harness = await startTestServer({ SANDBOX_LATENCY_MS: "150", WORKER_CONCURRENCY: "1" });
});
afterAll(async () => {
  await harness.close();
});

describe("ImagegateClient", () => {
  it("follows a task over server-sent events through every state", async () => {
    const client = new ImagegateClient({ baseUrl: harness.baseUrl, apiKey: harness.key });
    await client.createTask({ model: MODEL, input: { prompt: "ahead" } });
    const taskId = await client.createTask({ model: MODEL, input: { prompt: "followed" } });
    const seen: string[] = [];
    let streamRequests = 0;
    const counting = new ImagegateClient({
      baseUrl: harness.baseUrl,
      apiKey: harness.key,
      fetch: (input, init) => {
        if (String(input).includes("/streamInfo")) streamRequests += 1;
        return fetch(input, init);
      },
    });
    const record = await counting.followTask(taskId, { onChange: (change: TaskRecord) => seen.push(change.state) });
    expect(record.state).toBe("success");
    expect(seen).toEqual(["queuing", "generating", "success"]);
    expect(streamRequests).toBe(1);
  });

  it("falls back to polling when the stream cannot be opened", async () => {
    const polling = new ImagegateClient({
      baseUrl: harness.baseUrl,
      apiKey: harness.key,
      fetch: (input, init) =>
        String(input).includes("/streamInfo") ? Promise.reject(new TypeError("fetch failed")) : fetch(input, init),
    });
    const taskId = await polling.createTask({ model: MODEL, input: { prompt: "polled" } });
    const seen: string[] = [];
    const record = await polling.followTask(taskId, { intervalMs: 20, onChange: (change) => seen.push(change.state) });
    expect(record.state).toBe("success");
    expect(seen.at(-1)).toBe("success");
  });

  it("turns API errors into ImagegateApiError with the status and message", async () => {
    const client = new ImagegateClient({ baseUrl: harness.baseUrl, apiKey: harness.key });
    const error = await client.createTask({ model: MODEL, input: { prompt: "x", image_size: "7:7" } }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ImagegateApiError);
    expect(error).toMatchObject({ status: 422, message: expect.stringMatching(/^input\.image_size must be one of/) });
    const missing = await client.followTask("task_missing").catch((caught: unknown) => caught);
    expect(missing).toMatchObject({ status: 404 });
  });
});
