import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImagegateApiError, ImagegateClient, uploadFileName, type TaskRecord } from "../../src/client/client.ts";
import { MODEL, startTestServer, temporaryDirectory, type TestServer } from "../helpers/test-server.ts";

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

describe("ImagegateClient uploads and models", () => {
  const png = (): Promise<Buffer> =>
    sharp({ create: { width: 8, height: 6, channels: 3, background: { r: 10, g: 200, b: 30 } } }).png().toBuffer();

  async function downloaded(url: string): Promise<Buffer> {
    const response = await fetch(url);
    expect(response.status).toBe(200);
    return Buffer.from(await response.arrayBuffer());
  }

  it("uploads bytes under the name given, and the downloadUrl serves them", async () => {
    const client = new ImagegateClient({ baseUrl: harness.baseUrl, apiKey: harness.key });
    const bytes = await png();
    const uploaded = await client.uploadFile({ bytes, uploadPath: "sdk", fileName: "green.png" });
    expect(uploaded).toMatchObject({ fileName: "green.png", filePath: "sdk/green.png", fileSize: bytes.length, mimeType: "image/png" });
    expect((await downloaded(uploaded.downloadUrl)).equals(bytes)).toBe(true);
  });

  it("uploads a local file under its base name, made fit for the server's naming rule", async () => {
    const directory = await temporaryDirectory("imagegate-client-");
    try {
      const file = path.join(directory, "my green (1).png");
      const bytes = await png();
      await writeFile(file, bytes);
      const uploaded = await new ImagegateClient({ baseUrl: harness.baseUrl, apiKey: harness.key }).uploadFile({ path: file, uploadPath: "sdk/files" });
      expect(uploaded).toMatchObject({ fileName: "my-green--1-.png", filePath: "sdk/files/my-green--1-.png" });
      expect((await downloaded(uploaded.downloadUrl)).equals(bytes)).toBe(true);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("turns a refused upload into ImagegateApiError with the server's message", async () => {
    const client = new ImagegateClient({ baseUrl: harness.baseUrl, apiKey: harness.key });
    const error = await client.uploadFile({ bytes: Buffer.from("plain text"), uploadPath: "sdk" }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ImagegateApiError);
    expect(error).toMatchObject({ status: 415, message: "The file is not an image: only PNG, JPEG, WebP and GIF are accepted." });
  });

  it("lists the models with their limits", async () => {
    const models = await new ImagegateClient({ baseUrl: harness.baseUrl, apiKey: harness.key }).listModels();
    expect(models.map((model) => model.id)).toContain(MODEL);
    const pro = models.find((model) => model.id === "nano-banana-pro");
    expect(pro?.limits.inputImages).toEqual({ min: 0, max: 8 });
    expect(pro?.resultSizes["2K"]?.["1:1"]).toBe("2048x2048");
  });
});

describe("uploadFileName", () => {
  it.each([
    ["/photos/cat.png", "cat.png"],
    ["./my cat (2).JPG", "my-cat--2-.JPG"],
    ["/tmp/.hidden.png", "hidden.png"],
    ["/tmp/état.webp", "-tat.webp"],
    ["/tmp/x.meta.json", "x.meta-json"],
    [`/tmp/${"a".repeat(120)}.png`, `${"a".repeat(96)}.png`],
  ])("turns %s into %s", (file, name) => {
    expect(uploadFileName(file)).toBe(name);
  });
});
