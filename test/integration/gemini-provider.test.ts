import { pino, type Logger } from "pino";
import sharp from "sharp";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BASE_RATIOS } from "../../src/domain/catalog/aspect-ratios.ts";
import { FAKE_GEMINI_DEFAULT_SIZE, FAKE_GEMINI_PIXEL_SIZES } from "../fakes/fake-gemini-images.ts";
import type { Clock } from "../../src/domain/clock.ts";
import { FallbackImageProvider } from "../../src/providers/fallback-image-provider.ts";
import { createGeminiProvider, type GeminiOptions } from "../../src/providers/gemini/create-gemini-provider.ts";
import { ProviderError, type ImageProvider, type ImageRequest } from "../../src/providers/image-provider.ts";
import type { Sleep } from "../../src/providers/sleep.ts";
import { FakeGeminiServer } from "../fakes/fake-gemini-server.ts";

const SEED_RATIOS = [...BASE_RATIOS, "auto"] as const;
/** The fake answers in the pixel table of gemini-2.5-flash-image. */
const fakeSize = (ratio: string) => FAKE_GEMINI_PIXEL_SIZES[ratio] ?? FAKE_GEMINI_DEFAULT_SIZE;

const MODEL = "gemini-2.5-flash-image";
const KEY = "test-key";

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
  time = new FakeTime();
  logLines = [];
  logger = pino({ level: "debug" }, { write: (line: string) => logLines.push(JSON.parse(line) as LogLine) });
});

function gemini(overrides: Partial<GeminiOptions> = {}): ImageProvider {
  return createGeminiProvider({
    apiKeys: [KEY],
    baseUrl: fake.url,
    model: MODEL,
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
    model: "nano-banana-text-to-image",
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
  it.each(SEED_RATIOS)("asks for aspect ratio %s and returns a PNG of its table size", async (ratio) => {
    const output = await gemini().generate(imageRequest({ aspectRatio: ratio }));

    const imageConfig = (sentBody().generationConfig as Record<string, unknown>).imageConfig;
    expect(imageConfig).toEqual(ratio === "auto" ? undefined : { aspectRatio: ratio });
    const metadata = await sharp(output.bytes).metadata();
    expect({ format: metadata.format, width: metadata.width, height: metadata.height }).toEqual({
      format: "png",
      ...fakeSize(ratio),
    });
    expect(output.declaredMimeType).toBe("image/png");
  });

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

describe("what the Gemini provider makes of the answers", () => {
  it("returns the final image, not the interim thought images", async () => {
    fake.enqueue({ kind: "thought-images", thoughts: 2 });

    const output = await gemini().generate(imageRequest({ aspectRatio: "16:9" }));

    const metadata = await sharp(output.bytes).metadata();
    expect([metadata.width, metadata.height]).toEqual([1344, 768]);
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
