import { imageRequest, providerFailure } from "../helpers/image-requests.ts";
import { waitUntil } from "../helpers/wait.ts";
import pino from "pino";
import sharp from "sharp";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FalImageProvider } from "../../src/providers/fal/fal-image-provider.ts";
import { FAL_DEFAULT_MODELS } from "../../src/providers/fal/fal-models.ts";
import type { ImageRequest, InputImage } from "../../src/providers/image-provider.ts";
import { createUpstream } from "../../src/providers/upstreams/kinds.ts";
import { FakeFalServer } from "../fakes/fake-fal-server.ts";

const KEY = "fal-test-key";
const logger = pino({ level: "silent" });

let server: FakeFalServer;
let png: Buffer;

beforeAll(async () => {
  server = await FakeFalServer.start({ allowedKeys: [KEY] });
  png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#f5c400" } }).png().toBuffer();
});
afterAll(async () => server?.close());
beforeEach(() => server.setDefaultAnswer({ kind: "image", queuedMs: 20, runningMs: 40 }));

function adapter(options: { timeoutMs?: number; models?: Record<string, string> } = {}): FalImageProvider {
  return new FalImageProvider({
    apiKey: KEY,
    models: options.models ?? FAL_DEFAULT_MODELS,
    baseUrl: server.url,
    timeoutMs: options.timeoutMs ?? 5_000,
    pollIntervalMs: 25,
    logger,
  });
}

function request(overrides: Partial<ImageRequest> = {}): ImageRequest {
  return imageRequest({ taskId: "task_fal", prompt: "a banana on the moon", ...overrides });
}

const failureOf = providerFailure;

function eventually(check: () => boolean, withinMs = 3_000): Promise<void> {
  return waitUntil(check, String(check), withinMs);
}

describe("the fal adapter", () => {
  it("submits fal's input shape with the key, polls through IN_QUEUE and IN_PROGRESS, and downloads the image without the key", async () => {
    server.enqueue({ kind: "image", queuedMs: 150, runningMs: 200 });
    const pollsBefore = server.statusPolls.length;
    const output = await adapter().generate(request());
    const submit = server.submits.at(-1);
    expect(submit?.endpoint).toBe("fal-ai/nano-banana-pro");
    expect(submit?.apiKey).toBe(KEY);
    expect(submit?.body).toEqual({ prompt: "a banana on the moon", num_images: 1, output_format: "png", aspect_ratio: "16:9", resolution: "2K" });
    expect(server.statusPolls.length - pollsBefore).toBeGreaterThanOrEqual(3);
    const metadata = await sharp(output.bytes).metadata();
    expect([metadata.format, metadata.width, metadata.height]).toEqual(["png", 2752, 1536]);
    expect(output.declaredMimeType).toBe("image/png");
    expect(server.downloads.at(-1)?.authorization).toBeNull();
  });

  it("sends no resolution to the model without one, leaves out a ratio it lacks, and relaxes safety when asked", async () => {
    await adapter().generate(request({ model: "google/nano-banana", aspectRatio: "auto", safetyChecking: false }));
    expect(server.submits.at(-1)?.endpoint).toBe("fal-ai/nano-banana");
    expect(server.submits.at(-1)?.body).toEqual({ prompt: "a banana on the moon", num_images: 1, output_format: "png", safety_tolerance: "6" });
  });

  it("goes to the /edit endpoint when the request has reference images, once only", async () => {
    const images: InputImage[] = [{ bytes: png, mimeType: "image/png" }];
    await adapter().generate(request({ images }));
    expect(server.submits.at(-1)?.endpoint).toBe("fal-ai/nano-banana-pro/edit");
    await adapter().generate(request({ model: "google/nano-banana-edit", images }));
    expect(server.submits.at(-1)?.endpoint).toBe("fal-ai/nano-banana/edit");
    await adapter().generate(request({ model: "nano-banana-2-lite" }));
    expect(server.submits.at(-1)?.endpoint).toBe("fal-ai/nano-banana-2");
  });

  it("passes an image's own URL where it has one and its bytes as a data: URI where not, in order", async () => {
    const images: InputImage[] = [
      { bytes: png, mimeType: "image/png", url: "https://imagegate.example/files/input-1.png" },
      { bytes: png, mimeType: "image/png" },
    ];
    await adapter().generate(request({ images }));
    const sent = server.submits.at(-1)?.images ?? [];
    expect(sent.map((image) => image.kind)).toEqual(["url", "data"]);
    expect(sent[0]?.url).toBe("https://imagegate.example/files/input-1.png");
    expect(sent[1]?.mimeType).toBe("image/png");
    expect(sent[1]?.bytes?.equals(png)).toBe(true);
  });

  it("cancels the job on fal's side when the task is canceled, and reports CANCELED", async () => {
    server.enqueue({ kind: "stuck" });
    const controller = new AbortController();
    const submitsBefore = server.submits.length;
    const pending = adapter().generate(request({ signal: controller.signal }));
    // Canceled once the job is IN_PROGRESS, as the status polls show.
    await eventually(() => server.submits.length > submitsBefore && server.statusPolls.includes(server.submits.at(-1)?.requestId ?? ""));
    const requestId = server.submits.at(-1)?.requestId as string;
    controller.abort();
    expect((await failureOf(pending)).code).toBe("CANCELED");
    await eventually(() => server.cancels.includes(requestId));
  });

  it("bounds submit, polls and download by one timeout, and cancels the job it gives up", async () => {
    server.enqueue({ kind: "image", queuedMs: 5_000 });
    const startedAt = Date.now();
    const error = await failureOf(adapter({ timeoutMs: 400 }).generate(request()));
    expect(Date.now() - startedAt).toBeLessThan(2_000);
    expect([error.code, error.retryable]).toEqual(["PROVIDER_ERROR", true]);
    const requestId = server.submits.at(-1)?.requestId as string;
    await eventually(() => server.cancels.includes(requestId));
  });

  it("reads a content refusal at the submit as CONTENT_POLICY too", async () => {
    server.enqueue({ kind: "content-policy", at: "submit" });
    const error = await failureOf(adapter().generate(request()));
    expect([error.code, error.retryable]).toEqual(["CONTENT_POLICY", false]);
    expect(error.message).not.toContain("flagged");
  });

  it("reads another 422 as the request's fault, not retried", async () => {
    server.enqueue({ kind: "status", status: 422, detail: [{ loc: ["body", "prompt"], msg: "String should have at most 5000 characters", type: "string_too_long" }] });
    const error = await failureOf(adapter().generate(request()));
    expect([error.code, error.retryable, error.operatorError]).toEqual(["PROVIDER_ERROR", false, false]);
    expect(error.detail).toContain("at most 5000");
  });

  it("reads a COMPLETED result without images as INVALID_OUTPUT, retryable", async () => {
    server.enqueue({ kind: "no-images" });
    const error = await failureOf(adapter().generate(request()));
    expect([error.code, error.retryable]).toEqual(["INVALID_OUTPUT", true]);
  });

  it("maps an error status from the result endpoint after COMPLETED by its status", async () => {
    server.enqueue({ kind: "status", status: 500, at: "result" });
    const error = await failureOf(adapter().generate(request()));
    expect([error.code, error.retryable]).toEqual(["PROVIDER_ERROR", true]);
  });

  it("reads an endpoint fal does not have as the operator's error", async () => {
    const error = await failureOf(adapter({ models: { "nano-banana-pro": "fal-ai/no-such-model" } }).generate(request()));
    expect([error.retryable, error.operatorError]).toEqual([false, true]);
  });

  it("reads a rejected key as the operator's error, and says so in health until a call succeeds", async () => {
    const provider = adapter();
    server.enqueue({ kind: "bad-key" });
    expect((await failureOf(provider.generate(request()))).operatorError).toBe(true);
    expect(provider.health().ok).toBe(false);
    await provider.generate(request());
    expect(provider.health().ok).toBe(true);
  });

  it("serves through createUpstream with the layers: a 503 is retried, then the image comes", async () => {
    const provider = await createUpstream({
      kind: "fal",
      name: "fal-test",
      apiKey: KEY,
      models: {},
      baseUrl: server.url,
      timeoutMs: 5_000,
      maxAttempts: 2,
      maxConcurrency: 2,
      pollIntervalMs: 25,
      logger,
      sleep: async () => {},
    });
    server.enqueue({ kind: "status", status: 503 });
    const before = server.submits.length;
    const output = await provider.generate(request());
    expect(output.bytes.length).toBeGreaterThan(0);
    expect(server.submits.length - before).toBe(2);
  });
});
