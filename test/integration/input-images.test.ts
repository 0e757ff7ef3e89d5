import { rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { UploadAnswerData } from "../../src/api/routes/uploads.ts";
import type { ImageOutput, ImageProvider, ImageRequest } from "../../src/providers/image-provider.ts";
import { SandboxImageProvider } from "../../src/providers/sandbox/sandbox-image-provider.ts";
import { CONCURRENT_INPUT_FETCHES } from "../../src/worker/input-images.ts";
import { call, MODEL, startTestServer, temporaryDirectory, waitForTerminal, type TaskData, type TestServer } from "../helpers/test-server.ts";

type Format = "png" | "jpeg" | "webp";
const FORMATS: readonly Format[] = ["png", "jpeg", "webp"];
const MIME_TYPES: Record<Format, string> = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp" };
const MAX_BYTES = 50_000;
const EDIT = "google/nano-banana-edit";

/** A small picture of its own per format and number, so each input's bytes tell it apart. */
function picture(format: Format | "gif", number: number): Promise<Buffer> {
  const image = sharp({ create: { width: 4 + number, height: 4, channels: 3, background: { r: number * 17, g: 40, b: 200 } } });
  return image.toFormat(format).toBuffer();
}

/** The provider of live tasks: the sandbox's picture, after noting what it was asked. */
class RecordingProvider implements ImageProvider {
  readonly name = "recording";
  readonly requests = new Map<string, ImageRequest>();
  private readonly sandbox = new SandboxImageProvider({ latencyMs: 0 });

  generate(request: ImageRequest): Promise<ImageOutput> {
    this.requests.set(request.taskId, request);
    return this.sandbox.generate(request);
  }
}

/**
 * The images' origin: /png/N, /jpeg/N, /webp/N; /gif, /text, /missing (404), /big (past
 * INPUT_IMAGE_MAX_BYTES), /hop/N (N redirects, then /png/0), /hang (never answers), /once/NAME
 * (never answers the first time, then /png/0), /gate/N
 * (held until CONCURRENT_INPUT_FETCHES of them, or all that are left, are waiting), counting the
 * most ever waiting together.
 */
class ImageOrigin {
  readonly pictures = new Map<string, Buffer>();
  readonly hanging: { request: IncomingMessage; closed: boolean }[] = [];
  private readonly answeredOnce = new Set<string>();
  private readonly server: HttpServer;
  private gateTotal = 0;
  private gateHeld: (() => void)[] = [];
  private gateReleased = 0;
  private gateReleasing = false;
  gateMostWaiting = 0;
  origin = "";

  constructor() {
    this.server = createServer((request, response) => this.answer(request, response));
  }

  async start(): Promise<void> {
    for (const format of FORMATS) {
      for (let number = 0; number < 14; number += 1) this.pictures.set(`/${format}/${number}`, await picture(format, number));
    }
    this.pictures.set("/gif", await picture("gif", 1));
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  url(route: string): string {
    return `${this.origin}${route}`;
  }

  bytes(route: string): Buffer {
    const bytes = this.pictures.get(route);
    if (bytes === undefined) throw new Error(`no picture at ${route}`);
    return bytes;
  }

  /** Expects `total` requests of /gate/N; each batch is answered once it has all come. */
  openGate(total: number): void {
    this.gateTotal = total;
    this.gateReleased = 0;
    this.gateMostWaiting = 0;
  }

  private answer(request: IncomingMessage, response: ServerResponse): void {
    const route = request.url ?? "/";
    const stored = this.pictures.get(route.startsWith("/once/") && this.answeredOnce.has(route) ? "/png/0" : route);
    const hop = /^\/hop\/(\d+)$/.exec(route);
    const gate = /^\/gate\/(\d+)$/.exec(route);
    if (stored !== undefined) {
      // The declared type lies on purpose: only the bytes may decide.
      response.writeHead(200, { "Content-Type": "application/octet-stream" }).end(stored);
    } else if (route === "/text") {
      response.writeHead(200, { "Content-Type": "image/png" }).end("this is not an image");
    } else if (route === "/big") {
      const png = this.bytes("/png/0");
      response.writeHead(200, { "Content-Type": "image/png" }).end(Buffer.concat([png, Buffer.alloc(MAX_BYTES + 1 - png.length)]));
    } else if (hop !== null) {
      const left = Number(hop[1]);
      response.writeHead(302, { Location: left === 1 ? "/png/0" : `/hop/${left - 1}` }).end();
    } else if (route === "/hang" || (route.startsWith("/once/") && !this.answeredOnce.has(route))) {
      this.answeredOnce.add(route);
      const entry = { request, closed: false };
      response.on("close", () => {
        entry.closed = true;
      });
      this.hanging.push(entry);
    } else if (gate !== null) {
      this.gateHeld.push(() => response.writeHead(200).end(this.bytes(`/png/${gate[1]}`)));
      this.gateMostWaiting = Math.max(this.gateMostWaiting, this.gateHeld.length);
      if (!this.gateReleasing && this.gateHeld.length === Math.min(CONCURRENT_INPUT_FETCHES, this.gateTotal - this.gateReleased)) {
        this.gateReleasing = true;
        // A moment for requests beyond the batch to arrive and show in gateMostWaiting; a loader
        // within its limit sends none, so the moment's length decides nothing for it.
        setTimeout(() => {
          this.gateReleasing = false;
          this.gateReleased += this.gateHeld.length;
          for (const release of this.gateHeld.splice(0)) release();
        }, 20);
      }
    } else {
      response.writeHead(404).end();
    }
  }
}

const images = new ImageOrigin();
beforeAll(() => images.start());
afterAll(() => images.stop());

const started: TestServer[] = [];
async function start(env: Record<string, string>, provider?: ImageProvider): Promise<TestServer> {
  const harness = await startTestServer({ INPUT_IMAGE_MAX_BYTES: String(MAX_BYTES), ...env }, provider === undefined ? {} : { provider });
  started.push(harness);
  return harness;
}
afterAll(async () => {
  for (const harness of started.splice(0)) await harness.close();
});

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function credits(harness: TestServer, key = harness.key): Promise<number> {
  return (await call<number>(harness.baseUrl, "GET", "/api/v1/chat/credit", { key })).body.data;
}

/** Creates the task and waits for its end. */
async function run(harness: TestServer, model: string, input: Record<string, unknown>, key = harness.key): Promise<TaskData> {
  const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", { key, body: { model, input } });
  expect(created.status, created.body.msg).toBe(200);
  return (await waitForTerminal(harness.baseUrl, key, created.body.data.taskId)).record;
}

/** GETs a result or upload URL of `harness` at its path, wherever its public base URL points. */
async function fetchFile(harness: TestServer, url: string): Promise<Response> {
  const { pathname, search } = new URL(url);
  return fetch(`${harness.baseUrl}${pathname}${search}`);
}

function resultUrlOf(record: TaskData): string {
  return (JSON.parse(record.resultJson ?? "{}") as { resultUrls: string[] }).resultUrls[0] ?? "";
}

describe("reference images fetched from other servers", () => {
  const provider = new RecordingProvider();
  let harness: TestServer;
  beforeAll(async () => {
    harness = await start({ INPUT_IMAGE_ALLOW_PRIVATE: "true" }, provider);
  });

  /** `count` inputs cycling through the three formats, each a picture of its own. */
  function inputs(count: number): { urls: string[]; expected: { bytes: Buffer; mimeType: string }[] } {
    const routes = Array.from({ length: count }, (_, index) => `/${FORMATS[index % 3] ?? "png"}/${index}`);
    return {
      urls: routes.map((route) => images.url(route)),
      expected: routes.map((route) => ({ bytes: images.bytes(route), mimeType: MIME_TYPES[(route.split("/")[1] ?? "png") as Format] })),
    };
  }

  function sentImages(record: TaskData): { bytes: Buffer; mimeType: string }[] {
    const request = provider.requests.get(record.taskId);
    return (request?.images ?? []).map(({ bytes, mimeType }) => ({ bytes: Buffer.from(bytes), mimeType }));
  }

  it.each([
    { model: EDIT, count: 1, field: "image_urls", extra: {}, resolution: "1K", googleSearch: false, price: 4 },
    { model: EDIT, count: 10, field: "image_urls", extra: {}, resolution: "1K", googleSearch: false, price: 4 },
    { model: "nano-banana-pro", count: 8, field: "image_input", extra: { resolution: "4K" }, resolution: "4K", googleSearch: false, price: 24 },
    {
      model: "nano-banana-2",
      count: 14,
      field: "image_input",
      extra: { resolution: "2K", google_search: true },
      resolution: "2K",
      googleSearch: true,
      price: 12,
    },
  ])("$model with $count images: the provider gets their bytes and types in order", async ({ model, count, field, extra, resolution, googleSearch, price }) => {
    const { urls, expected } = inputs(count);
    const before = await credits(harness);
    const record = await run(harness, model, { prompt: "compose these", [field]: urls, ...extra });
    expect(record).toMatchObject({ state: "success", failCode: null });
    expect(sentImages(record)).toEqual(expected);
    expect(provider.requests.get(record.taskId)).toMatchObject({ model, resolution, googleSearch });
    expect(await credits(harness)).toBe(before - price);
  });

  it("follows a chain of 5 redirects", async () => {
    const record = await run(harness, EDIT, { prompt: "redirected", image_urls: [images.url("/hop/5")] });
    expect(record.state).toBe("success");
    expect(sentImages(record)).toEqual([{ bytes: images.bytes("/png/0"), mimeType: "image/png" }]);
  });

  it("fetches a few at a time, neither one by one nor all at once", async () => {
    // The origin answers only once CONCURRENT_INPUT_FETCHES requests wait together: one by one hangs.
    images.openGate(14);
    const urls = Array.from({ length: 14 }, (_, index) => images.url(`/gate/${index}`));
    const record = await run(harness, "nano-banana-2", { prompt: "gated", image_input: urls });
    expect(record.state).toBe("success");
    // At least that many at once, or the gate would never open; and no more than that.
    expect(images.gateMostWaiting).toBe(CONCURRENT_INPUT_FETCHES);
    expect(sentImages(record).map(({ bytes }) => bytes)).toEqual(urls.map((_, index) => images.bytes(`/png/${index}`)));
  });

  it("runs a test-mode task with reference images end to end in the sandbox", async () => {
    const testKey = await harness.newAccountKey("sandboxed", "test");
    const before = await credits(harness, testKey);
    const record = await run(harness, EDIT, { prompt: "sandboxed edit", image_urls: inputs(3).urls }, testKey);
    expect(record).toMatchObject({ state: "success", failCode: null });
    expect(provider.requests.has(record.taskId)).toBe(false);
    const result = await fetchFile(harness, resultUrlOf(record));
    expect(result.status).toBe(200);
    expect(result.headers.get("content-type")).toBe("image/png");
    expect(await credits(harness, testKey)).toBe(before);
  });

  it.each([
    ["a 404", ["/png/0", "/png/1", "/missing"], "image_urls[2] answered 404"],
    ["a GIF", ["/gif"], "image_urls[0] is not a PNG, JPEG or WebP image"],
    ["text", ["/png/0", "/text"], "image_urls[1] is not a PNG, JPEG or WebP image"],
    ["a body past INPUT_IMAGE_MAX_BYTES", ["/png/0", "/big"], `image_urls[1] is larger than ${MAX_BYTES} bytes`],
    ["a chain of 6 redirects", ["/hop/6"], "image_urls[0] redirected more than 5 times"],
  ])("fails the task on %s with INPUT_IMAGE_ERROR, charging nothing and calling no provider", async (_name, routes, failMsg) => {
    const before = await credits(harness);
    const record = await run(harness, EDIT, { prompt: "bad input", image_urls: routes.map((route) => images.url(route)) });
    expect(record).toMatchObject({ state: "fail", failCode: "INPUT_IMAGE_ERROR", failMsg, resultJson: null });
    expect(provider.requests.has(record.taskId)).toBe(false);
    expect(await credits(harness)).toBe(before);
  });

  it("names the input by the model's own field, whichever alias the client sent", async () => {
    const record = await run(harness, "nano-banana-pro", { prompt: "alias", image_urls: [images.url("/png/0"), images.url("/missing")] });
    expect(record).toMatchObject({ failCode: "INPUT_IMAGE_ERROR", failMsg: "image_input[1] answered 404" });
  });

  it("stays queuing while fetching, and a cancel then aborts the fetch and settles CANCELED", async () => {
    const before = await credits(harness);
    const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
      key: harness.key,
      body: { model: EDIT, input: { prompt: "hangs", image_urls: [images.url("/hang")] } },
    });
    const taskId = created.body.data.taskId;
    const hangingBefore = images.hanging.length;
    await until(() => images.hanging.length > hangingBefore);
    const fetch = images.hanging[hangingBefore];
    const waiting = await call<TaskData>(harness.baseUrl, "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, { key: harness.key });
    expect(waiting.body.data.state).toBe("queuing");
    const canceled = await call<TaskData>(harness.baseUrl, "POST", "/api/v1/jobs/cancelTask", { key: harness.key, body: { taskId } });
    expect(canceled.body.data).toMatchObject({ state: "fail", failCode: "CANCELED" });
    // The worker stops reading: the origin sees the request's connection closed.
    await until(() => fetch?.closed === true);
    const { record } = await waitForTerminal(harness.baseUrl, harness.key, taskId);
    expect(record).toMatchObject({ state: "fail", failCode: "CANCELED" });
    expect(provider.requests.has(taskId)).toBe(false);
    expect(await credits(harness)).toBe(before);
  });
});

describe("the limits on fetching reference images", () => {
  it("refuses a private address unless INPUT_IMAGE_ALLOW_PRIVATE is set", async () => {
    const harness = await start({});
    const before = await credits(harness);
    const record = await run(harness, EDIT, { prompt: "private", image_urls: [images.url("/png/0")] });
    expect(record).toMatchObject({ state: "fail", failCode: "INPUT_IMAGE_ERROR", failMsg: "image_urls[0] host 127.0.0.1 is a loopback address" });
    expect(await credits(harness)).toBe(before);
  });

  it("gives up on an image slower than INPUT_IMAGE_TIMEOUT_MS", async () => {
    const harness = await start({ INPUT_IMAGE_ALLOW_PRIVATE: "true", INPUT_IMAGE_TIMEOUT_MS: "200" });
    const before = await credits(harness);
    const record = await run(harness, EDIT, { prompt: "slow", image_urls: [images.url("/png/0"), images.url("/hang")] });
    expect(record).toMatchObject({ state: "fail", failCode: "INPUT_IMAGE_ERROR", failMsg: "image_urls[1] timed out after 200 ms" });
    expect(await credits(harness)).toBe(before);
  });

  it("fails with TIMEOUT when the task's deadline passes while an image is fetched", async () => {
    const harness = await start({ INPUT_IMAGE_ALLOW_PRIVATE: "true", TASK_TIMEOUT_MS: "500" });
    const before = await credits(harness);
    const record = await run(harness, EDIT, { prompt: "deadline", image_urls: [images.url("/hang")] });
    expect(record).toMatchObject({ state: "fail", failCode: "TIMEOUT" });
    expect(await credits(harness)).toBe(before);
  });
});

describe("a task fetching its images at shutdown", () => {
  it("is left for the next start, which fetches them again and finishes it", async () => {
    const dataDir = await temporaryDirectory();
    const env = { INPUT_IMAGE_ALLOW_PRIVATE: "true", DATA_DIR: dataDir };
    const first = await startTestServer(env);
    try {
      const created = await call<{ taskId: string }>(first.baseUrl, "POST", "/api/v1/jobs/createTask", {
        key: first.key,
        body: { model: EDIT, input: { prompt: "interrupted", image_urls: [images.url("/once/shutdown")] } },
      });
      const hangingBefore = images.hanging.length;
      await until(() => images.hanging.length > hangingBefore);
      await first.close();
      // The fetch was stopped, and the task left unsettled: the next start resumes it.
      const fetch = images.hanging[hangingBefore];
      await until(() => fetch?.closed === true);
      const second = await startTestServer(env);
      try {
        const { record } = await waitForTerminal(second.baseUrl, second.key, created.body.data.taskId);
        expect(record).toMatchObject({ state: "success", failCode: null });
      } finally {
        await second.close();
      }
    } finally {
      await first.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe("reference images of this server's own files", () => {
  const provider = new RecordingProvider();
  let offsetMs = 0;
  const clock = { now: () => Date.now() + offsetMs };
  let harness: TestServer;
  beforeAll(async () => {
    // Nothing listens at the public base URL: an own file that works was read from storage.
    harness = await startTestServer({ INPUT_IMAGE_ALLOW_PRIVATE: "true", PUBLIC_BASE_URL: "http://127.0.0.1:9" }, { provider, clock });
    started.push(harness);
  });

  async function upload(bytes: Buffer, fileName: string): Promise<UploadAnswerData> {
    const answer = await call<UploadAnswerData>(harness.baseUrl, "POST", "/api/file-base64-upload", {
      key: harness.key,
      body: { base64Data: bytes.toString("base64"), uploadPath: "inputs", fileName },
    });
    expect(answer.status, answer.body.msg).toBe(200);
    return answer.body.data;
  }

  function sentImages(record: TaskData): { bytes: Buffer; mimeType: string }[] | undefined {
    return provider.requests.get(record.taskId)?.images?.map(({ bytes, mimeType }) => ({ bytes: Buffer.from(bytes), mimeType }));
  }

  async function failMsgOf(url: string): Promise<string | null> {
    const record = await run(harness, EDIT, { prompt: "a bad own file", image_urls: [url] });
    expect(record).toMatchObject({ state: "fail", failCode: "INPUT_IMAGE_ERROR" });
    expect(provider.requests.has(record.taskId)).toBe(false);
    return record.failMsg;
  }

  it("reads an upload's downloadUrl from storage", async () => {
    const cat = images.bytes("/webp/5");
    const uploaded = await upload(cat, "cat.webp");
    expect(uploaded.downloadUrl.startsWith("http://127.0.0.1:9/files/uploads/")).toBe(true);
    const record = await run(harness, EDIT, { prompt: "the uploaded cat", image_urls: [uploaded.downloadUrl, images.url("/png/1")] });
    expect(record).toMatchObject({ state: "success" });
    expect(sentImages(record)).toEqual([
      { bytes: cat, mimeType: "image/webp" },
      { bytes: images.bytes("/png/1"), mimeType: "image/png" },
    ]);
  });

  it("reads a task's result URL from storage", async () => {
    const first = await run(harness, MODEL, { prompt: "a first picture" });
    const resultUrl = resultUrlOf(first);
    expect(resultUrl.startsWith("http://127.0.0.1:9/files/")).toBe(true);
    const result = Buffer.from(await (await fetchFile(harness, resultUrl)).arrayBuffer());
    const record = await run(harness, EDIT, { prompt: "edit the first picture", image_urls: [resultUrl] });
    expect(record).toMatchObject({ state: "success" });
    expect(sentImages(record)).toEqual([{ bytes: result, mimeType: "image/png" }]);
  });

  it("fails a tampered, an expired or a deleted file URL, and a GIF upload, charging nothing", async () => {
    const before = await credits(harness);
    const dog = await upload(images.bytes("/png/2"), "dog.png");
    const tampered = dog.downloadUrl.replace(/signature=(.)/, (_match, first: string) => `signature=${first === "A" ? "B" : "A"}`);
    expect(await failMsgOf(tampered)).toBe("image_urls[0] is a file URL of this server whose signature does not match");

    const gif = await upload(images.bytes("/gif"), "moving.gif");
    expect(await failMsgOf(gif.downloadUrl)).toBe("image_urls[0] is not a PNG, JPEG or WebP image");

    const gone = await upload(images.bytes("/png/3"), "gone.png");
    const stored = path.join(harness.dataDir, "results", "uploads", harness.accountId, "inputs", "gone.png");
    await rm(stored);
    await rm(`${stored}.meta.json`, { force: true });
    expect(await failMsgOf(gone.downloadUrl)).toBe(
      "image_urls[0] names a file this server no longer has: it may have passed its retention period",
    );

    // Past the upload's retention (UPLOAD_RETENTION_DAYS, 3 by default), before any sweep.
    offsetMs = 4 * 86_400_000;
    try {
      expect(await failMsgOf(dog.downloadUrl)).toBe("image_urls[0] is a file URL of this server that has expired");
    } finally {
      offsetMs = 0;
    }
    expect(await credits(harness)).toBe(before);
  });

  it("fetches any other URL of the public base URL's origin over the network, which fails here", async () => {
    const record = await run(harness, EDIT, { prompt: "not a file URL", image_urls: ["http://127.0.0.1:9/elsewhere.png"] });
    expect(record).toMatchObject({ failCode: "INPUT_IMAGE_ERROR" });
    expect(record.failMsg).toMatch(/^image_urls\[0\] could not be fetched: connection refused/);
  });
});
