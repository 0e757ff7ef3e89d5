import { pino, type Logger } from "pino";
import sharp from "sharp";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { ASPECT_RATIOS, BASE_RATIOS, pixelSize, RESOLUTIONS, type AspectRatio, type Resolution } from "../../src/domain/catalog/aspect-ratios.ts";
import { MODELS, nanoBananaTextToImage } from "../../src/domain/catalog/models/index.ts";
import type { Clock } from "../../src/domain/clock.ts";
import { FallbackImageProvider } from "../../src/providers/fallback-image-provider.ts";
import { createGeminiProvider, type GeminiOptions } from "../../src/providers/gemini/create-gemini-provider.ts";
import type { GeminiModelMap } from "../../src/providers/gemini/upstream-models.ts";
import { ProviderError, type ImageProvider, type ImageRequest, type InputImage } from "../../src/providers/image-provider.ts";
import type { Sleep } from "../../src/providers/sleep.ts";
import { FAKE_GEMINI_PIXEL_SIZES } from "../fakes/fake-gemini-images.ts";
import { FakeGeminiServer } from "../fakes/fake-gemini-server.ts";

const SEED = nanoBananaTextToImage.id;
/** The upstream model of the seed, which most tests ask for. */
const MODEL = nanoBananaTextToImage.defaultGeminiModel;
const KEY = "test-key";

/** Every public model's upstream route as the server's configuration reads GEMINI_MODEL_MAP (and GEMINI_MODEL). */
function routes(env: { GEMINI_MODEL_MAP?: string; GEMINI_MODEL?: string } = {}): GeminiModelMap {
  const models = loadConfig({ GEMINI_API_KEY: KEY, ...env }).gemini?.models;
  if (models === undefined) throw new Error("no Gemini configuration");
  return models;
}

interface LogLine {
  level: number;
  msg: string;
  operatorError?: boolean;
  [field: string]: unknown;
}

/** A clock the fake sleep moves forward, so retries take no real time and deadlines still hold. */
class FakeTime {
  now = 1_700_000_000_000;
  readonly sleeps: number[] = [];
  readonly clock: Clock = { now: () => this.now };
  readonly sleep: Sleep = async (ms) => {
    this.sleeps.push(ms);
    this.now += ms;
  };
}

let fake: FakeGeminiServer;
let time: FakeTime;
let logLines: LogLine[];
let logger: Logger;

beforeAll(async () => {
  fake = await FakeGeminiServer.start();
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => {
  fake.reset();
  fake.setDefaultAnswer({ kind: "image" });
  fake.setLatency(0);
  fake.setAllowedKeys(null);
  fake.setModels(null);
  time = new FakeTime();
  logLines = [];
  logger = pino({ level: "debug" }, { write: (line: string) => logLines.push(JSON.parse(line) as LogLine) });
});

function gemini(overrides: Partial<GeminiOptions> = {}): ImageProvider {
  return createGeminiProvider({
    apiKeys: [KEY],
    baseUrl: fake.url,
    models: routes(),
    timeoutMs: 5_000,
    maxAttempts: 4,
    maxConcurrency: 16,
    logger,
    clock: time.clock,
    sleep: time.sleep,
    random: () => 0.5,
    ...overrides,
  });
}

function imageRequest(overrides: Partial<ImageRequest> = {}): ImageRequest {
  return {
    taskId: "task_test",
    model: SEED,
    prompt: "a banana on a blue plate",
    aspectRatio: "1:1",
    safetyChecking: true,
    signal: new AbortController().signal,
    deadline: time.now + 120_000,
    ...overrides,
  };
}

async function failureOf(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => null,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

function sentBody(index = 0): Record<string, unknown> {
  const recorded = fake.requests[index];
  expect(recorded).toBeDefined();
  return recorded?.body as Record<string, unknown>;
}

const MESSAGES = {
  refused: "The prompt or the generated image was refused by the model's safety checking.",
  noImage: "The model did not return an image.",
  unavailable: "The image model is temporarily unavailable.",
  rejected: "The image model rejected the request.",
  misconfigured: "The image service is not configured correctly on this server.",
  slow: "The image model did not answer in time.",
  canceled: "The task was canceled before the image was ready.",
  timeout: "The image was not ready before the task's time limit.",
};

describe("what the Gemini provider sends", () => {
  it("sends the prompt as the text part, asks for an image only, with the key header on v1beta", async () => {
    await gemini().generate(imageRequest({ prompt: "a banana in space" }));

    const recorded = fake.requests[0];
    expect(recorded?.path).toBe(`/v1beta/models/${MODEL}:generateContent`);
    expect(recorded?.apiKey).toBe(KEY);
    expect(recorded?.headers["x-goog-api-key"]).toBe(KEY);
    expect(sentBody().contents).toEqual([{ role: "user", parts: [{ text: "a banana in space" }] }]);
    expect((sentBody().generationConfig as Record<string, unknown>).responseModalities).toEqual(["IMAGE"]);
  });

  it("keeps the upstream's default safety when safety checking is on", async () => {
    await gemini().generate(imageRequest({ safetyChecking: true }));

    expect(sentBody().safetySettings).toBeUndefined();
  });

  it("sends BLOCK_NONE for every harm category when safety checking is off", async () => {
    await gemini().generate(imageRequest({ safetyChecking: false }));

    expect(sentBody().safetySettings).toEqual(
      [
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
        "HARM_CATEGORY_CIVIC_INTEGRITY",
      ].map((category) => ({ category, threshold: "BLOCK_NONE" })),
    );
  });

  it("calls the v1 path when configured so, and the fake answers it", async () => {
    const output = await gemini({ apiVersion: "v1" }).generate(imageRequest());

    expect(fake.requests[0]?.path).toBe(`/v1/models/${MODEL}:generateContent`);
    expect(output.bytes.length).toBeGreaterThan(0);
  });

  it("calls onStart once, before the upstream call", async () => {
    let requestsAtStart = -1;
    let starts = 0;
    await gemini().generate(
      imageRequest({
        onStart: async () => {
          starts += 1;
          requestsAtStart = fake.requests.length;
        },
      }),
    );

    expect(starts).toBe(1);
    expect(requestsAtStart).toBe(0);
  });
});

const EXTREME = ["1:4", "4:1", "1:8", "8:1"] as const;
const FOURTEEN = [...BASE_RATIOS, ...EXTREME];

/**
 * What each upstream family takes, as Google's image-generation guide describes it; written out
 * here rather than read from the provider's table, so that a mistake there fails these tests.
 * imageSize "512" (3.1 Flash only) is left out: no public model asks for it.
 */
const FAMILIES = [
  { id: "gemini-2.5-flash-image", ratios: BASE_RATIOS, imageSizes: [], search: false, thinking: false },
  { id: "gemini-3-pro-image", ratios: BASE_RATIOS, imageSizes: RESOLUTIONS, search: true, thinking: true },
  { id: "gemini-3-pro-image-preview", ratios: BASE_RATIOS, imageSizes: RESOLUTIONS, search: true, thinking: true },
  { id: "gemini-3.1-flash-image", ratios: FOURTEEN, imageSizes: RESOLUTIONS, search: true, thinking: true },
  { id: "gemini-3.1-flash-lite-image", ratios: FOURTEEN, imageSizes: ["1K"], search: false, thinking: true },
  { id: "gemini-nano-banana-2.1", ratios: FOURTEEN, imageSizes: RESOLUTIONS, search: true, thinking: true },
  // An id newer than the provider's table is sent what the newest family takes.
  { id: "gemini-image-of-tomorrow", ratios: FOURTEEN, imageSizes: RESOLUTIONS, search: true, thinking: true },
] as const satisfies readonly {
  id: string;
  ratios: readonly AspectRatio[];
  imageSizes: readonly Resolution[];
  search: boolean;
  thinking: boolean;
}[];

async function shapeOf(bytes: Buffer): Promise<{ width: number; height: number }> {
  const metadata = await sharp(bytes).metadata();
  return { width: metadata.width, height: metadata.height };
}

async function inputImage(width: number, height: number, format: "png" | "jpeg" | "webp"): Promise<InputImage> {
  const canvas = sharp({ create: { width, height, channels: 3, background: { r: width % 256, g: height % 256, b: 40 } } });
  return { bytes: await canvas.toFormat(format).toBuffer(), mimeType: `image/${format}` };
}

interface SentConfig {
  imageConfig?: { aspectRatio?: string; imageSize?: string };
  thinkingConfig?: unknown;
}

function sentConfig(index = 0): SentConfig {
  return sentBody(index).generationConfig as SentConfig;
}

describe.each(FAMILIES)("what the provider sends to $id", (family) => {
  const provider = (): ImageProvider => gemini({ models: routes({ GEMINI_MODEL: family.id }) });
  const knows = (ratio: AspectRatio): boolean => (family.ratios as readonly AspectRatio[]).includes(ratio);
  const takes = (resolution: Resolution): boolean => (family.imageSizes as readonly Resolution[]).includes(resolution);

  it("asks for each ratio it knows (none for auto) and each imageSize it takes, and is answered", async () => {
    const cases = ASPECT_RATIOS.flatMap((aspectRatio) => RESOLUTIONS.map((resolution) => ({ aspectRatio, resolution })));
    for (const [index, { aspectRatio, resolution }] of cases.entries()) {
      await provider().generate(imageRequest({ aspectRatio, resolution }));

      const expected = {
        ...(aspectRatio !== "auto" && knows(aspectRatio) ? { aspectRatio } : {}),
        ...(takes(resolution) ? { imageSize: resolution } : {}),
      };
      expect(fake.requests[index]?.model).toBe(family.id);
      expect(sentConfig(index).imageConfig, `${aspectRatio} at ${resolution}`).toEqual(
        Object.keys(expected).length === 0 ? undefined : expected,
      );
    }
  });

  it(`asks for imageSize 1K when no resolution is given${family.imageSizes.length === 0 ? " (not at all here)" : ""}`, async () => {
    await provider().generate(imageRequest({ aspectRatio: "1:1" }));

    expect(sentConfig().imageConfig?.imageSize).toBe(family.imageSizes.length === 0 ? undefined : "1K");
  });

  it(`${family.search ? "grounds" : "does not ground"} the image with Google Search when asked, and only then`, async () => {
    await provider().generate(imageRequest({ googleSearch: true }));
    await provider().generate(imageRequest({ googleSearch: false }));
    await provider().generate(imageRequest());

    expect(sentBody(0).tools).toEqual(family.search ? [{ googleSearch: {} }] : undefined);
    expect(sentBody(1).tools).toBeUndefined();
    expect(sentBody(2).tools).toBeUndefined();
  });

  it(`${family.thinking ? "asks that thoughts not be returned" : "sends no thinking config"}`, async () => {
    await provider().generate(imageRequest());

    expect(sentConfig().thinkingConfig).toEqual(family.thinking ? { includeThoughts: false } : undefined);
  });

  it("sends the reference images inline after the prompt, in order, and with auto gets the last one's shape", async () => {
    const images = [await inputImage(400, 300, "png"), await inputImage(300, 400, "jpeg"), await inputImage(320, 180, "webp")];

    const output = await provider().generate(
      imageRequest({ prompt: "the first image in the style of the second", aspectRatio: "auto", resolution: "2K", images }),
    );

    expect(sentBody().contents).toEqual([
      {
        role: "user",
        parts: [
          { text: "the first image in the style of the second" },
          ...images.map((image) => ({ inlineData: { mimeType: image.mimeType, data: image.bytes.toString("base64") } })),
        ],
      },
    ]);
    expect(fake.requests[0]?.inputImages.map((image) => [image.mimeType, image.bytes])).toEqual(
      images.map((image) => [image.mimeType, image.bytes]),
    );
    // The last image is 16:9; the upstream answers in that shape at the size asked.
    const expected =
      family.imageSizes.length === 0
        ? FAKE_GEMINI_PIXEL_SIZES["16:9"]
        : pixelSize("16:9", takes("2K") ? "2K" : "1K");
    expect(await shapeOf(output.bytes)).toEqual(expected);
  });

  it("keeps the ratio asked for over the shape of the reference images", async () => {
    const output = await provider().generate(
      imageRequest({ aspectRatio: "2:3", images: [await inputImage(400, 300, "png")] }),
    );

    expect(sentConfig().imageConfig?.aspectRatio).toBe("2:3");
    expect(await shapeOf(output.bytes)).toEqual(family.imageSizes.length === 0 ? FAKE_GEMINI_PIXEL_SIZES["2:3"] : pixelSize("2:3"));
  });
});

describe("the result of each public model on its default upstream", () => {
  it.each(MODELS.map((model) => ({ id: model.id, model })))(
    "$id answers every ratio and resolution it offers in the size its table gives",
    async ({ id, model }) => {
      const { ratios, resolutions, ratiosOnlyAt1K } = model.describe.limits;
      const cases = resolutions.flatMap((resolution) =>
        ratios.filter((ratio) => resolution === "1K" || !ratiosOnlyAt1K.includes(ratio)).map((ratio) => ({ ratio, resolution })),
      );
      for (const [index, { ratio, resolution }] of cases.entries()) {
        const output = await gemini().generate(imageRequest({ model: id, aspectRatio: ratio, resolution }));

        const input = { prompt: "p", aspectRatio: ratio, outputFormat: "png" as const, safetyChecking: true, resolution };
        expect(fake.requests[index]?.model).toBe(model.defaultGeminiModel);
        expect(await shapeOf(output.bytes), `${id} ${ratio} at ${resolution}`).toEqual(model.expectedSize(input));
      }
      expect(fake.requests).toHaveLength(cases.length);
    },
  );
});

describe("what the Gemini provider makes of the answers", () => {
  it("returns the final image, not the interim thought images", async () => {
    fake.enqueue({ kind: "thought-images", thoughts: 2 });

    const output = await gemini().generate(imageRequest({ aspectRatio: "16:9" }));

    // The fake's thought images are 256x256 drafts.
    expect(await shapeOf(output.bytes)).toEqual(pixelSize("16:9"));
  });

  it("returns JPEG bytes labelled PNG as they are, with the declared type", async () => {
    fake.enqueue({ kind: "jpeg-as-png" });

    const output = await gemini().generate(imageRequest());

    expect([...output.bytes.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
    expect(output.declaredMimeType).toBe("image/png");
  });

  it("fails a blocked prompt with CONTENT_POLICY at once", async () => {
    fake.enqueue({ kind: "blocked", blockReason: "PROHIBITED_CONTENT" });

    const error = await failureOf(gemini().generate(imageRequest()));

    expect([error.code, error.message, error.retryable]).toEqual(["CONTENT_POLICY", MESSAGES.refused, false]);
    expect(error.detail).toContain("PROHIBITED_CONTENT");
    expect(fake.requests).toHaveLength(1);
  });

  it("fails an IMAGE_SAFETY finish with CONTENT_POLICY at once", async () => {
    fake.enqueue({ kind: "finish", finishReason: "IMAGE_SAFETY" });

    const error = await failureOf(gemini().generate(imageRequest()));

    expect([error.code, error.message, error.retryable]).toEqual(["CONTENT_POLICY", MESSAGES.refused, false]);
    expect(fake.requests).toHaveLength(1);
  });

  it.each([
    { name: "NO_IMAGE", answer: { kind: "finish", finishReason: "NO_IMAGE" } as const },
    { name: "text only", answer: { kind: "text-only" } as const },
    { name: "empty parts", answer: { kind: "empty-parts" } as const },
  ])("retries an answer without an image ($name) once, then fails with INVALID_OUTPUT", async ({ answer }) => {
    fake.setDefaultAnswer(answer);

    const error = await failureOf(gemini().generate(imageRequest()));

    expect([error.code, error.message]).toEqual(["INVALID_OUTPUT", MESSAGES.noImage]);
    expect(fake.requests).toHaveLength(2);
  });

  it("succeeds when the one retry after an answer without an image brings one", async () => {
    fake.enqueue({ kind: "finish", finishReason: "NO_IMAGE" });

    const output = await gemini().generate(imageRequest());

    expect(output.bytes.length).toBeGreaterThan(0);
    expect(fake.requests).toHaveLength(2);
  });
});

describe("Gemini retries", () => {
  it("retries 503 and 500 with full-jitter exponential backoff, calling onStart once", async () => {
    fake.enqueue({ kind: "status", status: 503 }, { kind: "status", status: 500 });
    let starts = 0;

    const output = await gemini().generate(imageRequest({ onStart: async () => void (starts += 1) }));

    expect(output.bytes.length).toBeGreaterThan(0);
    expect(fake.requests).toHaveLength(3);
    // random() = 0.5 of a ceiling of 1000 ms, then 2000 ms.
    expect(time.sleeps).toEqual([500, 1000]);
    expect(starts).toBe(1);
  });

  it.each([500, 502, 503, 504])("gives up on %i after GEMINI_MAX_ATTEMPTS attempts, without upstream text", async (status) => {
    fake.setDefaultAnswer({ kind: "status", status });

    const error = await failureOf(gemini({ maxAttempts: 3 }).generate(imageRequest()));

    expect([error.code, error.message, error.retryable]).toEqual(["PROVIDER_ERROR", MESSAGES.unavailable, true]);
    expect(error.detail).toContain(`HTTP ${status}`);
    expect(fake.requests).toHaveLength(3);
  });

  it.each([400, 404])("fails %i at once with PROVIDER_ERROR", async (status) => {
    fake.enqueue({ kind: "status", status });

    const error = await failureOf(gemini().generate(imageRequest()));

    expect([error.code, error.message, error.retryable]).toEqual(["PROVIDER_ERROR", MESSAGES.rejected, false]);
    expect(fake.requests).toHaveLength(1);
  });

  it("waits for the upstream's RetryInfo delay after a 429", async () => {
    fake.enqueue({ kind: "rate-limited", retryDelay: "41s" });

    await gemini().generate(imageRequest());

    expect(time.sleeps).toEqual([41_000]);
    expect(fake.requests).toHaveLength(2);
  });

  it("reads fractional RetryInfo delays", async () => {
    fake.enqueue({ kind: "rate-limited", retryDelay: "1.5s" });

    await gemini().generate(imageRequest());

    expect(time.sleeps).toEqual([1_500]);
  });

  it("backs off exponentially after a 429 without RetryInfo", async () => {
    fake.enqueue({ kind: "rate-limited", retryDelay: null });

    await gemini().generate(imageRequest());

    expect(time.sleeps).toEqual([500]);
  });

  it("retries an answer that is not valid JSON", async () => {
    fake.enqueue({ kind: "malformed-json" });

    const output = await gemini().generate(imageRequest());

    expect(output.bytes.length).toBeGreaterThan(0);
    expect(fake.requests).toHaveLength(2);
  });

  it("retries an attempt that outlives GEMINI_TIMEOUT_MS", async () => {
    fake.enqueue({ kind: "hang" });

    const output = await gemini({ timeoutMs: 300 }).generate(imageRequest());

    expect(output.bytes.length).toBeGreaterThan(0);
    expect(fake.requests).toHaveLength(2);
  });

  it("fails with a retryable PROVIDER_ERROR when every attempt times out", async () => {
    fake.setDefaultAnswer({ kind: "hang" });

    const error = await failureOf(gemini({ timeoutMs: 200, maxAttempts: 2 }).generate(imageRequest()));

    expect([error.code, error.message, error.retryable]).toEqual(["PROVIDER_ERROR", MESSAGES.slow, true]);
    expect(fake.requests).toHaveLength(2);
  });

  it("retries when the upstream cannot be reached, then fails with PROVIDER_ERROR", async () => {
    const gone = await FakeGeminiServer.start();
    await gone.close();

    const error = await failureOf(gemini({ baseUrl: gone.url, maxAttempts: 2 }).generate(imageRequest()));

    expect([error.code, error.message, error.retryable]).toEqual([
      "PROVIDER_ERROR",
      "The image model could not be reached.",
      true,
    ]);
    expect(time.sleeps).toHaveLength(1);
  });

  it("starts no attempt after the deadline and fails with the last error", async () => {
    fake.setDefaultAnswer({ kind: "status", status: 503 });

    // Backoff ceilings at random() = 1: 1000, 2000, then 4000 ms, which would end past the deadline.
    const error = await failureOf(
      gemini({ maxAttempts: 10, random: () => 1 }).generate(imageRequest({ deadline: time.now + 5_000 })),
    );

    expect([error.code, error.message]).toEqual(["PROVIDER_ERROR", MESSAGES.unavailable]);
    expect(time.sleeps).toEqual([1_000, 2_000]);
    expect(fake.requests).toHaveLength(3);
  });

  it("fails with TIMEOUT, calling neither onStart nor the upstream, when the deadline has passed", async () => {
    let starts = 0;

    const error = await failureOf(
      gemini().generate(imageRequest({ deadline: time.now - 1, onStart: async () => void (starts += 1) })),
    );

    expect([error.code, error.message]).toEqual(["TIMEOUT", MESSAGES.timeout]);
    expect(starts).toBe(0);
    expect(fake.requests).toHaveLength(0);
  });

  it("cuts a call short with TIMEOUT when the deadline passes during it", async () => {
    fake.setDefaultAnswer({ kind: "hang" });
    const startedAt = Date.now();

    const error = await failureOf(gemini().generate(imageRequest({ deadline: time.now + 300 })));

    expect([error.code, error.message, error.retryable]).toEqual(["TIMEOUT", MESSAGES.timeout, false]);
    expect(Date.now() - startedAt).toBeLessThan(2_000);
    expect(fake.requests).toHaveLength(1);
  });
});

describe("the fake's magic words", () => {
  it("fails the first N requests of a prompt with [gemini:503xN], then answers normally", async () => {
    const output = await gemini().generate(imageRequest({ prompt: "a banana [gemini:503x2]" }));

    expect(output.bytes.length).toBeGreaterThan(0);
    expect(fake.requests).toHaveLength(3);
  });

  it.each([
    ["[gemini:blocked]", "CONTENT_POLICY"],
    ["[gemini:image-safety]", "CONTENT_POLICY"],
    ["[gemini:no-image]", "INVALID_OUTPUT"],
    ["[gemini:text-only]", "INVALID_OUTPUT"],
    ["[gemini:404]", "PROVIDER_ERROR"],
    ["[gemini:invalid-key]", "PROVIDER_ERROR"],
  ])("answers %s as the upstream would (%s)", async (word, code) => {
    const error = await failureOf(gemini({ maxAttempts: 2 }).generate(imageRequest({ prompt: `a banana ${word}` })));

    expect(error.code).toBe(code);
  });

  it("answers [gemini:429:7s] with that RetryInfo delay", async () => {
    await failureOf(gemini({ maxAttempts: 2 }).generate(imageRequest({ prompt: "a banana [gemini:429:7s]" })));

    expect(time.sleeps).toEqual([7_000]);
  });
});

describe("Gemini and the task's signal", () => {
  it("stops with CANCELED soon after the task is canceled mid-call", async () => {
    fake.setDefaultAnswer({ kind: "hang" });
    const controller = new AbortController();
    const startedAt = Date.now();
    setTimeout(() => controller.abort(), 100);

    const error = await failureOf(gemini().generate(imageRequest({ signal: controller.signal })));

    expect([error.code, error.message, error.retryable]).toEqual(["CANCELED", MESSAGES.canceled, false]);
    expect(Date.now() - startedAt).toBeLessThan(1_000);
    expect(fake.requests).toHaveLength(1);
  });

  it("stops with TIMEOUT when the task's signal aborts with a TimeoutError", async () => {
    fake.setDefaultAnswer({ kind: "hang" });

    const error = await failureOf(gemini().generate(imageRequest({ signal: AbortSignal.timeout(100) })));

    expect([error.code, error.message]).toEqual(["TIMEOUT", MESSAGES.timeout]);
  });
});

describe("the Gemini key pool", () => {
  it("rotates over the keys", async () => {
    const provider = gemini({ apiKeys: ["key-a", "key-b"] });

    for (let index = 0; index < 4; index += 1) {
      await provider.generate(imageRequest());
    }

    expect(fake.requests.map((recorded) => recorded.apiKey)).toEqual(["key-a", "key-b", "key-a", "key-b"]);
  });

  it("moves on to the next key after a 429 while the limited key rests for its delay", async () => {
    const provider = gemini({ apiKeys: ["key-a", "key-b"] });
    fake.enqueue({ kind: "rate-limited", retryDelay: "30s" });

    await provider.generate(imageRequest());
    await provider.generate(imageRequest());
    time.now += 30_000;
    await provider.generate(imageRequest());

    expect(fake.requests.map((recorded) => recorded.apiKey)).toEqual(["key-a", "key-b", "key-b", "key-a"]);
    expect(time.sleeps).toEqual([]);
  });
});

describe("the Gemini concurrency limit", () => {
  it("keeps at most GEMINI_MAX_CONCURRENCY calls at the upstream, and calls onStart only with a slot", async () => {
    fake.setLatency(150);
    const provider = gemini({ maxConcurrency: 2 });
    let starts = 0;

    const generations = Array.from({ length: 6 }, () =>
      provider.generate(imageRequest({ onStart: async () => void (starts += 1) })),
    );
    await new Promise((resolve) => setTimeout(resolve, 75));
    const startsWhileFirstTwoRun = starts;
    await Promise.all(generations);

    expect(fake.maxInFlight).toBe(2);
    expect(startsWhileFirstTwoRun).toBe(2);
    expect(starts).toBe(6);
    expect(fake.requests).toHaveLength(6);
  });

  it("lets a task waiting for a slot be canceled without ever starting", async () => {
    fake.setLatency(200);
    const provider = gemini({ maxConcurrency: 1 });
    const controller = new AbortController();
    let waitingStarted = false;

    const running = provider.generate(imageRequest());
    const waiting = provider.generate(
      imageRequest({ signal: controller.signal, onStart: async () => void (waitingStarted = true) }),
    );
    setTimeout(() => controller.abort(), 50);

    const error = await failureOf(waiting);
    await running;
    expect(error.code).toBe("CANCELED");
    expect(waitingStarted).toBe(false);
    expect(fake.requests).toHaveLength(1);
  });
});

describe("a fallback route of two Gemini instances", () => {
  let second: FakeGeminiServer;

  beforeAll(async () => {
    second = await FakeGeminiServer.start();
  });

  afterAll(async () => {
    await second.close();
  });

  beforeEach(() => {
    second.reset();
  });

  function route(): ImageProvider {
    return new FallbackImageProvider([
      gemini({ name: "gemini-primary", maxAttempts: 2 }),
      gemini({ name: "gemini-secondary", baseUrl: second.url, maxAttempts: 2 }),
    ], { clock: time.clock });
  }

  it("falls back to the second server once the first exhausts its retries", async () => {
    fake.setDefaultAnswer({ kind: "status", status: 503 });
    let starts = 0;

    const output = await route().generate(imageRequest({ onStart: async () => void (starts += 1) }));

    expect(output.bytes.length).toBeGreaterThan(0);
    expect(fake.requests).toHaveLength(2);
    expect(second.requests).toHaveLength(1);
    expect(starts).toBe(1);
  });

  it("does not fall back on CONTENT_POLICY", async () => {
    fake.enqueue({ kind: "blocked" });

    const error = await failureOf(route().generate(imageRequest()));

    expect(error.code).toBe("CONTENT_POLICY");
    expect(second.requests).toHaveLength(0);
  });

  it("does not fall back once the task is canceled", async () => {
    fake.setDefaultAnswer({ kind: "hang" });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);

    const error = await failureOf(route().generate(imageRequest({ signal: controller.signal })));

    expect(error.code).toBe("CANCELED");
    expect(second.requests).toHaveLength(0);
  });
});

describe("a rejected Gemini key", () => {
  function operatorErrors(): LogLine[] {
    return logLines.filter((line) => line.operatorError === true);
  }

  it("fails at once, shows in health() and is logged as an operator error once per minute at most", async () => {
    fake.setAllowedKeys(["the-right-key"]);
    const provider = gemini({ apiKeys: ["a-wrong-key"] });

    const error = await failureOf(provider.generate(imageRequest()));
    await failureOf(provider.generate(imageRequest()));
    await failureOf(provider.generate(imageRequest()));

    expect([error.code, error.message, error.retryable]).toEqual(["PROVIDER_ERROR", MESSAGES.misconfigured, false]);
    expect(fake.requests).toHaveLength(3);
    const health = provider.health?.();
    expect(health?.ok).toBe(false);
    expect(health?.reason).toContain("API_KEY_INVALID");
    expect(health?.reason).not.toContain("a-wrong-key");
    expect(operatorErrors()).toHaveLength(1);
    expect(operatorErrors()[0]?.level).toBe(50);
    expect(JSON.stringify(logLines)).not.toContain("a-wrong-key");

    time.now += 60_000;
    await failureOf(provider.generate(imageRequest()));
    expect(operatorErrors()).toHaveLength(2);
  });

  it.each([401, 403])("treats %i as a rejected key", async (status) => {
    fake.enqueue({ kind: "status", status });
    const provider = gemini();

    const error = await failureOf(provider.generate(imageRequest()));

    expect([error.code, error.message, error.retryable]).toEqual(["PROVIDER_ERROR", MESSAGES.misconfigured, false]);
    expect(provider.health?.().ok).toBe(false);
    expect(operatorErrors()).toHaveLength(1);
  });

  it("recovers health once the key is accepted again", async () => {
    fake.enqueue({ kind: "invalid-key" });
    const provider = gemini();
    await failureOf(provider.generate(imageRequest()));

    await provider.generate(imageRequest());

    expect(provider.health?.()).toEqual({ ok: true });
  });

  it("carries on with the other keys of a pool, staying healthy", async () => {
    fake.setAllowedKeys(["key-good"]);
    const provider = gemini({ apiKeys: ["key-bad", "key-good"] });

    await provider.generate(imageRequest());
    await provider.generate(imageRequest());

    expect(fake.requests.map((recorded) => recorded.apiKey)).toEqual(["key-bad", "key-good", "key-good"]);
    expect(provider.health?.()).toEqual({ ok: true });
  });
});

describe("the check of the mapped upstream models", () => {
  const DEFAULT_UPSTREAMS = [...new Set(MODELS.map((model) => model.defaultGeminiModel))];
  const PRO_MISSING =
    "Gemini serves no model gemini-3-pro-image (nano-banana-pro); set GEMINI_MODEL_MAP to map nano-banana-pro to a model it serves";

  function operatorErrors(): LogLine[] {
    return logLines.filter((line) => line.operatorError === true);
  }

  function serveAllBut(...missing: string[]): void {
    fake.setModels([...DEFAULT_UPSTREAMS, "gemini-3.1-flash-image"].filter((id) => !missing.includes(id)));
  }

  it("asks the model listing once for each distinct upstream id of the map", async () => {
    const provider = gemini({ models: routes({ GEMINI_MODEL_MAP: "nano-banana-2=gemini-3.1-flash-image" }) });

    await provider.checkUpstream?.();

    expect(fake.listingRequests.map((recorded) => recorded.path).sort()).toEqual(
      [...DEFAULT_UPSTREAMS, "gemini-3.1-flash-image"].map((id) => `/v1beta/models/${id}`).sort(),
    );
    expect(provider.health?.()).toEqual({ ok: true });
  });

  it("names the missing id, its public model and GEMINI_MODEL_MAP, logging it once, and still serves the others", async () => {
    serveAllBut("gemini-3-pro-image");
    const provider = gemini();

    await provider.checkUpstream?.();
    await provider.checkUpstream?.();

    expect(provider.health?.()).toEqual({ ok: false, reason: PRO_MISSING });
    expect(operatorErrors()).toEqual([
      expect.objectContaining({
        level: 50,
        msg: `OPERATOR ACTION NEEDED: ${PRO_MISSING}`,
        model: "gemini-3-pro-image",
        publicModels: ["nano-banana-pro"],
        settings: ["GEMINI_MODEL_MAP"],
      }),
    ]);
    expect((await provider.generate(imageRequest({ model: "nano-banana-2-lite" }))).bytes.length).toBeGreaterThan(0);
  });

  it("names GEMINI_MODEL for the seed model and the map for the others when they share a missing id", async () => {
    serveAllBut("gemini-nano-banana-2.1");
    const provider = gemini();

    await provider.checkUpstream?.();

    const sharing = MODELS.filter((model) => model.defaultGeminiModel === "gemini-nano-banana-2.1").map((model) => model.id);
    const mapped = sharing.filter((id) => id !== SEED).join(", ");
    expect(provider.health?.()).toEqual({
      ok: false,
      reason:
        `Gemini serves no model gemini-nano-banana-2.1 (${sharing.join(", ")}); ` +
        `set GEMINI_MODEL to a model it serves and GEMINI_MODEL_MAP to map ${mapped} to a model it serves`,
    });
    expect(operatorErrors().map((line) => line.settings)).toEqual([["GEMINI_MODEL", "GEMINI_MODEL_MAP"]]);
  });

  it("names GEMINI_MODEL alone when only the seed model's id is missing", async () => {
    fake.setModels(DEFAULT_UPSTREAMS);
    const provider = gemini({ models: routes({ GEMINI_MODEL: "gemini-retired-image" }) });

    await provider.checkUpstream?.();

    expect(provider.health?.()).toEqual({
      ok: false,
      reason: `Gemini serves no model gemini-retired-image (${SEED}); set GEMINI_MODEL to a model it serves`,
    });
  });

  it("reports every missing id, with one log line each", async () => {
    serveAllBut("gemini-3-pro-image", "gemini-3.1-flash-lite-image");
    const provider = gemini();

    await provider.checkUpstream?.();

    const lite =
      "Gemini serves no model gemini-3.1-flash-lite-image (nano-banana-2-lite); set GEMINI_MODEL_MAP to map nano-banana-2-lite to a model it serves";
    expect(provider.health?.()?.reason?.split(/; (?=Gemini)/).sort()).toEqual([PRO_MISSING, lite]);
    expect(operatorErrors().map((line) => line.model).sort()).toEqual(["gemini-3-pro-image", "gemini-3.1-flash-lite-image"]);
  });

  it("is ready again once the listing serves the id again", async () => {
    serveAllBut("gemini-3-pro-image");
    const provider = gemini();
    await provider.checkUpstream?.();

    fake.setModels(null);
    await provider.checkUpstream?.();

    expect(provider.health?.()).toEqual({ ok: true });
    expect(logLines.filter((line) => line.msg === "Gemini serves the configured model again")).toHaveLength(1);
  });

  it("marks the id missing when generateContent answers 404, and clears it with the next image from it", async () => {
    serveAllBut("gemini-3-pro-image");
    const provider = gemini();

    const error = await failureOf(provider.generate(imageRequest({ model: "nano-banana-pro", resolution: "2K" })));

    expect([error.code, error.message, error.operatorError]).toEqual(["PROVIDER_ERROR", MESSAGES.rejected, true]);
    expect(provider.health?.()).toEqual({ ok: false, reason: PRO_MISSING });
    expect(fake.listingRequests).toHaveLength(0);

    fake.setModels(null);
    await provider.generate(imageRequest({ model: "nano-banana-pro" }));
    expect(provider.health?.()).toEqual({ ok: true });
  });

  it("fails a public model the map lacks as this server's misconfiguration, without calling Gemini", async () => {
    const error = await failureOf(gemini().generate(imageRequest({ model: "dall-e-3" })));

    expect([error.code, error.message, error.retryable, error.operatorError]).toEqual([
      "PROVIDER_ERROR",
      MESSAGES.misconfigured,
      false,
      true,
    ]);
    expect(error.detail).toContain("dall-e-3");
    expect(fake.requests).toHaveLength(0);
  });
});
