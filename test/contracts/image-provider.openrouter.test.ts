import { imageRequest, providerFailure } from "../helpers/image-requests.ts";
import { DEFAULT_UPSTREAM_MODELS } from "../../src/providers/upstreams/default-models.ts";
import pino from "pino";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageRequest, ProviderError } from "../../src/providers/image-provider.ts";
import {
  createOpenRouterAdapter,
  createOpenRouterProvider,
} from "../../src/providers/openrouter/create-openrouter-provider.ts";
import type { OpenRouterUpstreamOptions } from "../../src/providers/upstreams/kinds.ts";
import { FakeOpenRouterServer, type FakeOpenRouterAnswer } from "../fakes/fake-openrouter-server.ts";
import { imageProviderContract, type ScriptedAnswer, type UpstreamFake } from "./image-provider.contract.ts";

const API_KEY = "sk-or-v1-contract";

function openRouterAnswer(answer: ScriptedAnswer): FakeOpenRouterAnswer {
  switch (answer.kind) {
    case "image":
      return { kind: "image" };
    case "refusal":
      return { kind: "content-filter" };
    case "rate-limit":
      return { kind: "rate-limited", retryAfterSeconds: answer.retryAfterSeconds ?? null };
    case "server-error":
      return { kind: "status", status: answer.status ?? 500 };
    case "hang":
      return { kind: "hang" };
    case "garbage":
      return { kind: "malformed-json" };
    case "bad-credentials":
      return { kind: "invalid-key" };
  }
}

function options(server: FakeOpenRouterServer, overrides: Partial<OpenRouterUpstreamOptions> = {}): OpenRouterUpstreamOptions {
  return {
    kind: "openrouter",
    name: "openrouter",
    apiKey: API_KEY,
    models: {},
    baseUrl: server.url,
    timeoutMs: 5_000,
    maxAttempts: 1,
    maxConcurrency: 4,
    logger: pino({ level: "silent" }),
    ...overrides,
  };
}

imageProviderContract("OpenRouter (chat completions with image output)", async () => {
  const server = await FakeOpenRouterServer.start({ apiKeys: [API_KEY] });
  const fake: UpstreamFake = {
    url: server.url,
    script: (...answers) => server.enqueue(...answers.map(openRouterAnswer)),
    get generationRequests() {
      return server.requests.length;
    },
    get lastGeneration() {
      const last = server.requests.at(-1);
      return last === undefined ? null : { prompt: last.prompt, images: last.images.length };
    },
    close: () => server.close(),
  };
  return { fake, adapter: ({ timeoutMs }) => createOpenRouterAdapter(options(server, { timeoutMs })) };
});

function request(overrides: Partial<ImageRequest> = {}): ImageRequest {
  return imageRequest({ taskId: "task_openrouter", prompt: "a banana on a bicycle", ...overrides });
}

const failureOf = providerFailure;

describe("OpenRouter upstream", () => {
  let server: FakeOpenRouterServer;

  beforeAll(async () => {
    server = await FakeOpenRouterServer.start({ apiKeys: [API_KEY] });
  });
  afterAll(async () => server.close());

  it("sends the default model id, the ratio and size, and the images inline or by URL, and reads the data: URL back", async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#f5c400" } }).png().toBuffer();
    const provider = createOpenRouterProvider(options(server));
    const output = await provider.generate(
      request({
        images: [
          { bytes: png, mimeType: "image/png" },
          { bytes: png, mimeType: "image/png", url: "https://imagegate.example/v1/inputs/second.png" },
        ],
      }),
    );
    const sent = server.requests.at(-1);
    expect(sent?.apiKey).toBe(API_KEY);
    expect(sent?.model).toBe(DEFAULT_UPSTREAM_MODELS.openrouter["nano-banana-pro"]);
    expect(sent?.model).toBe("google/gemini-3-pro-image");
    expect(sent?.modalities).toEqual(["image", "text"]);
    expect(sent?.aspectRatio).toBe("16:9");
    expect(sent?.imageSize).toBe("2K");
    expect(sent?.images[0]?.bytes?.equals(png)).toBe(true);
    expect(sent?.images[1]?.url).toBe("https://imagegate.example/v1/inputs/second.png");
    expect(output.declaredMimeType).toBe("image/png");
    expect(await sharp(output.bytes).metadata()).toMatchObject({ width: 2752, height: 1536 });
  });

  it("leaves out aspect_ratio for auto, and image_size for a model without sizes", async () => {
    const adapter = createOpenRouterAdapter(options(server, { models: { "nano-banana-pro": "google/gemini-2.5-flash-image" } }));
    await adapter.generate(request({ aspectRatio: "auto" }));
    const body = server.requests.at(-1)?.body as Record<string, unknown>;
    expect(body["image_config"]).toBeUndefined();
  });

  const failures: { name: string; answer: FakeOpenRouterAnswer; expected: Partial<ProviderError> }[] = [
    { name: "402 out of credits", answer: { kind: "no-credits" }, expected: { code: "PROVIDER_ERROR", operatorError: true, retryable: false } },
    { name: "403 moderation", answer: { kind: "moderation" }, expected: { code: "CONTENT_POLICY", retryable: false, operatorError: false } },
    { name: "400 bad request", answer: { kind: "status", status: 400 }, expected: { code: "PROVIDER_ERROR", retryable: false, operatorError: false } },
    { name: "502 model down", answer: { kind: "status", status: 502 }, expected: { code: "PROVIDER_ERROR", retryable: true } },
    { name: "200 with an error object", answer: { kind: "error-in-body", code: 502 }, expected: { code: "PROVIDER_ERROR", retryable: true } },
    { name: "200 with a 429 error object", answer: { kind: "error-in-body", code: 429 }, expected: { code: "PROVIDER_ERROR", retryable: true } },
    { name: "200 without an image", answer: { kind: "text-only" }, expected: { code: "INVALID_OUTPUT", retryable: true } },
    {
      name: "200 with a PROHIBITED_CONTENT native finish reason",
      answer: { kind: "content-filter", nativeFinishReason: "PROHIBITED_CONTENT" },
      expected: { code: "CONTENT_POLICY", retryable: false },
    },
  ];
  for (const { name, answer, expected } of failures) {
    it(`maps ${name}`, async () => {
      server.enqueue(answer);
      const error = await failureOf(createOpenRouterAdapter(options(server)).generate(request()));
      expect(error).toMatchObject(expected);
      expect(error.message).not.toMatch(/OpenRouter|credits|flagged/);
    });
  }

  it("says in health that the key was rejected, until a call succeeds", async () => {
    const adapter = createOpenRouterAdapter(options(server));
    server.enqueue({ kind: "invalid-key" });
    await failureOf(adapter.generate(request()));
    expect(adapter.health()).toMatchObject({ ok: false });
    await adapter.generate(request());
    expect(adapter.health()).toEqual({ ok: true });
  });
});
