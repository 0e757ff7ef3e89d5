import { imageRequest, providerFailure } from "../helpers/image-requests.ts";
import { waitUntil } from "../helpers/wait.ts";
import pino from "pino";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageRequest, InputImage } from "../../src/providers/image-provider.ts";
import { ReplicateImageProvider } from "../../src/providers/replicate/replicate-image-provider.ts";
import { REPLICATE_DEFAULT_MODELS } from "../../src/providers/replicate/replicate-models.ts";
import { createUpstream } from "../../src/providers/upstreams/kinds.ts";
import { E005, FakeReplicateServer } from "../fakes/fake-replicate-server.ts";

const TOKEN = "r8_test_token";
const logger = pino({ level: "silent" });

let server: FakeReplicateServer;
let png: Buffer;

beforeAll(async () => {
  server = await FakeReplicateServer.start({ allowedTokens: [TOKEN] });
  png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#f5c400" } }).png().toBuffer();
});
afterAll(async () => server?.close());

function adapter(options: { timeoutMs?: number; models?: Record<string, string> } = {}): ReplicateImageProvider {
  return new ReplicateImageProvider({
    apiToken: TOKEN,
    models: options.models ?? REPLICATE_DEFAULT_MODELS,
    baseUrl: server.url,
    timeoutMs: options.timeoutMs ?? 5_000,
    pollIntervalMs: 25,
    logger,
  });
}

function request(overrides: Partial<ImageRequest> = {}): ImageRequest {
  return imageRequest({ taskId: "task_replicate", prompt: "a banana on the moon", aspectRatio: "4:3", resolution: undefined, ...overrides });
}

const failureOf = providerFailure;

function eventually(check: () => boolean, withinMs = 3_000): Promise<void> {
  return waitUntil(check, String(check), withinMs);
}

describe("the Replicate adapter", () => {
  it("creates the prediction with the token and Replicate's input shape, and downloads the output without the token", async () => {
    const output = await adapter().generate(request());
    const create = server.creates.at(-1);
    expect(create?.model).toBe("google/nano-banana-pro");
    expect(create?.token).toBe(TOKEN);
    // Pro's resolution defaults to 2K upstream, so 1K is asked for when the task names none.
    expect(create?.body).toEqual({ input: { prompt: "a banana on the moon", output_format: "png", aspect_ratio: "4:3", resolution: "1K" } });
    const metadata = await sharp(output.bytes).metadata();
    expect([metadata.format, metadata.width, metadata.height]).toEqual(["png", 1200, 896]);
    expect(server.downloads.at(-1)?.authorization).toBeNull();
  });

  it("holds the create open no longer than the attempt's budget, nor than 60 seconds, nor at all under a second", async () => {
    await adapter({ timeoutMs: 4_500 }).generate(request());
    expect(server.creates.at(-1)?.waitSeconds).toBe(4);
    await adapter({ timeoutMs: 600_000 }).generate(request());
    expect(server.creates.at(-1)?.prefer).toBe("wait=60");
    // The task's deadline is nearer than the attempt's timeout: the deadline bounds the wait.
    await adapter({ timeoutMs: 600_000 }).generate(request({ deadline: Date.now() + 2_500 }));
    expect(server.creates.at(-1)?.waitSeconds).toBeLessThanOrEqual(2);
    await adapter({ timeoutMs: 900 }).generate(request());
    expect(server.creates.at(-1)?.prefer).toBeNull();
  });

  it("asks Replicate to cancel on its own a little after the attempt gives up (Cancel-After)", async () => {
    await adapter({ timeoutMs: 30_000 }).generate(request());
    expect(server.creates.at(-1)?.cancelAfter).toBe("35s");
  });

  it("polls a prediction still running when the held create returns, until it succeeds", async () => {
    server.enqueue({ kind: "image", runMs: 1_500, outputAs: "array" });
    const pollsBefore = server.polls.length;
    // wait=1: the create returns `processing` after a second, the polls take it from there.
    const output = await adapter({ timeoutMs: 1_999 }).generate(request());
    expect(server.creates.at(-1)?.waitSeconds).toBe(1);
    expect(server.polls.length - pollsBefore).toBeGreaterThanOrEqual(2);
    expect(output.bytes.length).toBeGreaterThan(0);
  });

  it("passes an image's own URL where it has one and its bytes as a data: URI where not, matching the inputs' shape for auto", async () => {
    const images: InputImage[] = [
      { bytes: png, mimeType: "image/png", url: "https://imagegate.example/files/input-1.png" },
      { bytes: png, mimeType: "image/png" },
    ];
    await adapter().generate(request({ model: "google/nano-banana-edit", aspectRatio: "auto", images }));
    const create = server.creates.at(-1);
    expect(create?.model).toBe("google/nano-banana");
    expect(create?.images.map((image) => image.kind)).toEqual(["url", "data"]);
    expect(create?.images[1]?.bytes?.equals(png)).toBe(true);
    expect((create?.body as { input: Record<string, unknown> }).input.aspect_ratio).toBe("match_input_image");
    // No resolution field on the model without one.
    expect((create?.body as { input: Record<string, unknown> }).input.resolution).toBeUndefined();
  });

  it("cancels the prediction on Replicate's side when the task is canceled, and reports CANCELED", async () => {
    server.enqueue({ kind: "stuck" });
    const controller = new AbortController();
    const createsBefore = server.creates.length;
    const pollsBefore = server.polls.length;
    const pending = adapter({ timeoutMs: 1_999 }).generate(request({ signal: controller.signal }));
    await eventually(() => server.polls.length > pollsBefore);
    controller.abort();
    expect((await failureOf(pending)).code).toBe("CANCELED");
    const id = server.creates[createsBefore]?.predictionId as string;
    await eventually(() => server.cancels.includes(id));
  });

  it("reads E005 (flagged as sensitive) as CONTENT_POLICY, not retried", async () => {
    server.enqueue({ kind: "failed", error: E005, runMs: 50 });
    const error = await failureOf(adapter().generate(request()));
    expect([error.code, error.retryable]).toEqual(["CONTENT_POLICY", false]);
    expect(error.message).not.toContain("E005");
  });

  it("reads another failure as the model's, retryable, and a bad input as the request's, not", async () => {
    server.enqueue({ kind: "failed", error: "CUDA error: an illegal memory access was encountered", runMs: 50 });
    const modelError = await failureOf(adapter().generate(request()));
    expect([modelError.code, modelError.retryable]).toEqual(["PROVIDER_ERROR", true]);
    server.enqueue({ kind: "failed", error: "cannot identify image file '/tmp/input.png'", runMs: 50 });
    const inputError = await failureOf(adapter().generate(request()));
    expect([inputError.code, inputError.retryable]).toEqual(["PROVIDER_ERROR", false]);
  });

  it("takes the delay of a 429 from the body's retry_after when there is no header", async () => {
    server.enqueue({ kind: "rate-limited", retryAfterSeconds: 3, via: "body" });
    const error = await failureOf(adapter().generate(request()));
    expect([error.retryable, error.retryAfterMs]).toEqual([true, 3_000]);
  });

  it("reads billing, an unknown model and a rejected token as the operator's errors, shown in health", async () => {
    const provider = adapter();
    server.enqueue({ kind: "billing" });
    const billing = await failureOf(provider.generate(request()));
    expect([billing.operatorError, billing.retryable]).toEqual([true, false]);
    expect(provider.health()).toEqual({ ok: false, reason: expect.stringContaining("billing") as unknown });
    const unknown = await failureOf(adapter({ models: { "nano-banana-pro": "google/no-such-model" } }).generate(request()));
    expect(unknown.operatorError).toBe(true);
    await provider.generate(request());
    expect(provider.health().ok).toBe(true);
  });

  it("reads a 422 as the request's fault, not retried", async () => {
    const error = await failureOf(adapter().generate(request({ prompt: "" })));
    expect([error.code, error.retryable, error.operatorError]).toEqual(["PROVIDER_ERROR", false, false]);
  });

  it("reads a success without output as INVALID_OUTPUT, retryable", async () => {
    server.enqueue({ kind: "no-output" });
    const error = await failureOf(adapter().generate(request()));
    expect([error.code, error.retryable]).toEqual(["INVALID_OUTPUT", true]);
  });

  it("serves through createUpstream with the layers: a 502 is retried, then the image comes", async () => {
    const provider = await createUpstream({
      kind: "replicate",
      name: "replicate-test",
      apiToken: TOKEN,
      models: {},
      baseUrl: server.url,
      timeoutMs: 5_000,
      maxAttempts: 2,
      maxConcurrency: 2,
      pollIntervalMs: 25,
      logger,
      sleep: async () => {},
    });
    server.enqueue({ kind: "status", status: 502 });
    const before = server.creates.length;
    const output = await provider.generate(request({ model: "nano-banana-2-1" }));
    expect(output.bytes.length).toBeGreaterThan(0);
    expect(server.creates.length - before).toBe(2);
    expect(server.creates.at(-1)?.model).toBe("google/nano-banana-2");
  });
});
