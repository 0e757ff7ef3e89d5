import pino from "pino";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BASE_RATIOS, pixelSize, type AspectRatio, type Resolution } from "../../src/domain/catalog/aspect-ratios.ts";
import type { ModelDefinition } from "../../src/domain/catalog/model.ts";
import { MODELS } from "../../src/domain/catalog/models/index.ts";
import { FakeGeminiServer, type RecordedGeminiRequest } from "../fakes/fake-gemini-server.ts";
import { call, MODEL, startTestServer, waitForTerminal, type TaskData, type TestServer } from "../helpers/test-server.ts";

const SEED_RATIOS = [...BASE_RATIOS, "auto"] as const;


/**
 * Issue 3 through the real server: HTTP createTask/recordInfo, the worker, the Gemini provider built
 * from configuration by buildProvider, the real @google/genai SDK, and the fake Gemini server.
 * Every prompt is unique, so tests can run side by side and still count their own requests at the
 * fake (magic words such as [gemini:503x2] count per prompt).
 */

/**
 * A model id of our own for the seed model, and another family for nano-banana-2-1: the fake
 * answers 404 to any id but these and the other models' defaults, so each test also proves
 * GEMINI_MODEL and GEMINI_MODEL_MAP are used.
 */
const GEMINI_MODEL_ID = "gemini-image-under-test";
const GEMINI_MODEL_MAP = "nano-banana-2-1=gemini-3.1-flash-image";
/** The upstream id the main server sends each public model's tasks to. */
const upstreamOf = (model: ModelDefinition): string =>
  model.id === MODEL ? GEMINI_MODEL_ID : model.id === "nano-banana-2-1" ? "gemini-3.1-flash-image" : model.defaultGeminiModel;
const DEFAULT_UPSTREAMS = [...new Set(MODELS.map((model) => model.defaultGeminiModel))];
const PRIMARY_KEY = "primary-gemini-key";
const PRICE = 4;

const FAIL_MESSAGES = {
  refused: "The prompt or the generated image was refused by the model's safety checking.",
  noImage: "The model did not return an image.",
  unavailable: "The image model is temporarily unavailable.",
  rejected: "The image model rejected the request.",
  misconfigured: "The image service is not configured correctly on this server.",
} as const;

/** The worker's sentence for a passed deadline, and the provider's. */
const TIMEOUT_MESSAGES = [
  "The task did not finish before its deadline.",
  "The image was not ready before the task's time limit.",
];

/** Words of Google's error bodies and answers that must never reach a client's failMsg. */
const UPSTREAM_TEXT =
  /HTTP|googleapis|INVALID_ARGUMENT|PERMISSION_DENIED|NOT_FOUND|INTERNAL|UNAVAILABLE|overloaded|finishReason|blockReason|PROHIBITED|IMAGE_SAFETY|NO_IMAGE|API_KEY|Request contains|entity|caller/;

const HARM_CATEGORIES = [
  "HARM_CATEGORY_HARASSMENT",
  "HARM_CATEGORY_HATE_SPEECH",
  "HARM_CATEGORY_SEXUALLY_EXPLICIT",
  "HARM_CATEGORY_DANGEROUS_CONTENT",
  "HARM_CATEGORY_CIVIC_INTEGRITY",
];

interface SentGenerateContent {
  contents?: unknown;
  safetySettings?: unknown;
  tools?: unknown;
  generationConfig?: { responseModalities?: unknown; imageConfig?: unknown; thinkingConfig?: unknown };
}

interface ReadinessData {
  checks: { name: string; ok: boolean; reason?: string }[];
}

let fake: FakeGeminiServer;
let main: TestServer;

beforeAll(async () => {
  fake = await FakeGeminiServer.start({ models: [...new Set(MODELS.map(upstreamOf))] });
  main = await startTestServer({
    GEMINI_API_KEY: PRIMARY_KEY,
    GEMINI_BASE_URL: fake.url,
    GEMINI_MODEL: GEMINI_MODEL_ID,
    GEMINI_MODEL_MAP,
    // Long enough for a 4K answer on a busy machine; short enough to test a timed-out attempt.
    GEMINI_TIMEOUT_MS: "3000",
    GEMINI_MAX_ATTEMPTS: "3",
  });
});

afterAll(async () => {
  await main.close();
  await fake.close();
});

async function createTask(harness: TestServer, input: Record<string, unknown>, key = harness.key, model = MODEL): Promise<string> {
  const answer = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
    key,
    body: { model, input },
  });
  expect([answer.status, answer.body.code, answer.body.msg]).toEqual([200, 200, "success"]);
  return answer.body.data.taskId;
}

async function runTask(harness: TestServer, input: Record<string, unknown>, key = harness.key, model = MODEL): Promise<TaskData> {
  const taskId = await createTask(harness, input, key, model);
  return (await waitForTerminal(harness.baseUrl, key, taskId)).record;
}

function requestsFor(server: FakeGeminiServer, prompt: string): RecordedGeminiRequest[] {
  return server.requests.filter((recorded) => recorded.prompt === prompt);
}

function onlyRequestFor(server: FakeGeminiServer, prompt: string): RecordedGeminiRequest {
  const recorded = requestsFor(server, prompt);
  expect(recorded).toHaveLength(1);
  const [first] = recorded;
  if (first === undefined) throw new Error(`the fake received no request for "${prompt}"`);
  return first;
}

function sentBody(recorded: RecordedGeminiRequest): SentGenerateContent {
  return recorded.body as SentGenerateContent;
}

async function downloadResult(record: TaskData): Promise<{ status: number; contentType: string | null; bytes: Buffer }> {
  expect(record).toMatchObject({ state: "success", failCode: null, failMsg: null });
  const { resultUrls } = JSON.parse(record.resultJson ?? "null") as { resultUrls: string[] };
  expect(resultUrls).toHaveLength(1);
  const response = await fetch(resultUrls[0] ?? "");
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    bytes: Buffer.from(await response.arrayBuffer()),
  };
}

async function imageShape(bytes: Buffer): Promise<{ format: string; width: number; height: number }> {
  const metadata = await sharp(bytes).metadata();
  return { format: metadata.format, width: metadata.width, height: metadata.height };
}

async function readiness(harness: TestServer): Promise<{ status: number; code: number; msg: string; data: ReadinessData }> {
  const answer = await call<ReadinessData>(harness.baseUrl, "GET", "/readyz");
  return { status: answer.status, ...answer.body };
}

/** /readyz's answer when the gemini route alone cannot serve, for `reason`. */
function geminiNotReady(reason: string): { status: number; code: number; msg: string; data: ReadinessData } {
  return {
    status: 503,
    code: 503,
    msg: "Not ready.",
    data: {
      checks: [
        { name: "database", ok: true },
        { name: "files", ok: true },
        { name: "provider:gemini", ok: false, reason },
        { name: "provider:sandbox", ok: true },
      ],
    },
  };
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe.concurrent("what the server sends to Gemini", () => {
  it.each(SEED_RATIOS)("image_size %s becomes imageConfig.aspectRatio (omitted for auto), at imageSize 1K", async (ratio) => {
    const prompt = `sent ratio ${ratio}`;
    await runTask(main, { prompt, image_size: ratio });

    const imageConfig = sentBody(onlyRequestFor(fake, prompt)).generationConfig?.imageConfig;
    expect(imageConfig).toEqual(ratio === "auto" ? { imageSize: "1K" } : { aspectRatio: ratio, imageSize: "1K" });
  });

  it("sends no safety settings when nsfw_checker is true", async () => {
    const prompt = "sent with the checker on";
    await runTask(main, { prompt, nsfw_checker: true });

    expect(sentBody(onlyRequestFor(fake, prompt)).safetySettings).toBeUndefined();
  });

  it("sends BLOCK_NONE for every harm category when nsfw_checker is false", async () => {
    const prompt = "sent with the checker off";
    await runTask(main, { prompt, nsfw_checker: false });

    expect(sentBody(onlyRequestFor(fake, prompt)).safetySettings).toEqual(
      HARM_CATEGORIES.map((category) => ({ category, threshold: "BLOCK_NONE" })),
    );
  });

  it("sends the prompt with the x-goog-api-key header to GEMINI_MODEL's generateContent path", async () => {
    const prompt = "sent key and model";
    await runTask(main, { prompt });

    const recorded = onlyRequestFor(fake, prompt);
    expect(recorded.method).toBe("POST");
    expect(recorded.path).toBe(`/v1beta/models/${GEMINI_MODEL_ID}:generateContent`);
    expect(recorded.headers["x-goog-api-key"]).toBe(PRIMARY_KEY);
    expect(sentBody(recorded).contents).toEqual([{ role: "user", parts: [{ text: prompt }] }]);
    expect(sentBody(recorded).generationConfig?.responseModalities).toEqual(["IMAGE"]);
    expect(sentBody(recorded).generationConfig?.thinkingConfig).toEqual({ includeThoughts: false });
    expect(sentBody(recorded).tools).toBeUndefined();
  });
});

describe.concurrent("the result files of Gemini tasks", () => {
  const cases = SEED_RATIOS.flatMap((ratio) => (["png", "jpeg"] as const).map((format) => ({ ratio, format })));

  it.each(cases)("image_size $ratio with output_format $format is a $format of the table's size", async ({ ratio, format }) => {
    const record = await runTask(main, { prompt: `result ${ratio} ${format}`, image_size: ratio, output_format: format });

    const download = await downloadResult(record);
    expect([download.status, download.contentType]).toEqual([200, `image/${format}`]);
    expect(await imageShape(download.bytes)).toEqual({ format, ...pixelSize(ratio) });
  });

  it.each(["png", "jpeg"] as const)("JPEG bytes labelled PNG by Gemini still give the %s asked for", async (format) => {
    const prompt = `labelled wrong as ${format} [gemini:jpeg-as-png]`;
    const record = await runTask(main, { prompt, image_size: "4:3", output_format: format });

    const download = await downloadResult(record);
    expect([download.status, download.contentType]).toEqual([200, `image/${format}`]);
    expect(await imageShape(download.bytes)).toEqual({ format, width: 1200, height: 896 });
    expect(requestsFor(fake, prompt)).toHaveLength(1);
  });

  it("uses the final image, not the interim thought images", async () => {
    const prompt = "thinking first [gemini:thoughts]";
    const record = await runTask(main, { prompt, image_size: "16:9" });

    const download = await downloadResult(record);
    // The fake's thought images are 256x256 drafts.
    expect(await imageShape(download.bytes)).toEqual({ format: "png", width: 1376, height: 768 });
  });
});

/** One task of a public model: a ratio it offers at a resolution it offers. */
interface ModelCase {
  model: ModelDefinition;
  ratio: AspectRatio;
  resolution: Resolution;
}

/** Every ratio at every resolution a model offers (the extreme ratios of some only at 1K). */
function casesOf(model: ModelDefinition): ModelCase[] {
  const { ratios, resolutions, ratiosOnlyAt1K } = model.describe.limits;
  return resolutions.flatMap((resolution) =>
    ratios.filter((ratio) => resolution === "1K" || !ratiosOnlyAt1K.includes(ratio)).map((ratio) => ({ model, ratio, resolution })),
  );
}

/** The input of a task for `each`, in the model's own field names. */
function inputOf({ model, ratio, resolution }: ModelCase, prompt: string): Record<string, unknown> {
  const ratioField = "image_size" in model.describe.defaults ? "image_size" : "aspect_ratio";
  const input: Record<string, unknown> = { prompt, [ratioField]: ratio };
  if (model.describe.limits.resolutions.length > 1) input.resolution = resolution;
  return input;
}

/** An image uploaded to the main server, for a task's reference images. */
async function uploadedImage(width: number, height: number, format: "png" | "jpeg" | "webp") {
  const bytes = await sharp({ create: { width, height, channels: 3, background: { r: 200, g: width % 256, b: height % 256 } } })
    .toFormat(format)
    .toBuffer();
  const answer = await call<{ downloadUrl: string }>(main.baseUrl, "POST", "/api/file-base64-upload", {
    key: main.key,
    body: { base64Data: bytes.toString("base64"), uploadPath: "gemini-tests" },
  });
  expect(answer.status).toBe(200);
  return { url: answer.body.data.downloadUrl, bytes, mimeType: `image/${format}` };
}

describe.concurrent("every public model through the server", () => {
  // google/nano-banana-edit needs reference images: its tasks are below.
  const textToImage = MODELS.filter((model) => (model.describe.limits.inputImages?.min ?? 0) === 0);
  const cases = textToImage.flatMap(casesOf).map((each) => ({ ...each, id: each.model.id }));
  const at1K = cases.filter((each) => each.resolution === "1K");
  const above1K = cases.filter((each) => each.resolution !== "1K");

  async function check(each: ModelCase): Promise<void> {
    const prompt = `every model: ${each.model.id} ${each.ratio} ${each.resolution}`;
    const record = await runTask(main, inputOf(each, prompt), main.key, each.model.id);

    // A 4K answer can take the fake longer than the 1 s attempt budget on a busy machine; a retry
    // then asks again, and every request must ask the same.
    const requests = requestsFor(fake, prompt);
    expect(requests.length).toBeGreaterThanOrEqual(1);
    for (const recorded of requests) {
      expect(recorded.model).toBe(upstreamOf(each.model));
      expect(recorded.imageSize).toBe(each.resolution);
      expect(recorded.aspectRatio).toBe(each.ratio === "auto" ? null : each.ratio);
    }
    const download = await downloadResult(record);
    const input = { prompt, aspectRatio: each.ratio, outputFormat: "png" as const, safetyChecking: true, resolution: each.resolution };
    const { width, height } = await imageShape(download.bytes);
    expect({ width, height }).toEqual(each.model.expectedSize(input));
  }

  it.each(at1K)("$id at $ratio 1K is sent to its upstream and answers its table's size", check);

  it.each(above1K)("$id at $ratio $resolution asks that size and answers it", check);

  it("nano-banana-2 with google_search grounds the image with Google Search", async () => {
    const prompt = "every model: grounded";
    const record = await runTask(main, { prompt, google_search: true }, main.key, "nano-banana-2");

    expect(record.state).toBe("success");
    expect(sentBody(onlyRequestFor(fake, prompt)).tools).toEqual([{ googleSearch: {} }]);
  });

  it("nano-banana-2 without google_search sends no tools", async () => {
    const prompt = "every model: not grounded";
    const record = await runTask(main, { prompt }, main.key, "nano-banana-2");

    expect(record.state).toBe("success");
    expect(sentBody(onlyRequestFor(fake, prompt)).tools).toBeUndefined();
  });

  it(
    "google/nano-banana-edit sends its image_urls inline after the prompt, in order, and with auto answers in the last one's shape",
    async () => {
      const images = [await uploadedImage(400, 300, "png"), await uploadedImage(320, 180, "jpeg")];
      const prompt = "every model: the first image in the light of the second";
      const input = { prompt, image_urls: images.map((image) => image.url), image_size: "auto" };
      const record = await runTask(main, input, main.key, "google/nano-banana-edit");

      const recorded = onlyRequestFor(fake, prompt);
      expect((sentBody(recorded).contents as { parts: unknown[] }[])[0]?.parts[0]).toEqual({ text: prompt });
      expect(recorded.inputImages.map((image) => [image.mimeType, image.bytes])).toEqual(
        images.map((image) => [image.mimeType, image.bytes]),
      );
      expect(recorded.aspectRatio).toBeNull();
      // The last image is 16:9.
      const { width, height } = await imageShape((await downloadResult(record)).bytes);
      expect({ width, height }).toEqual(pixelSize("16:9"));
    },
  );

  it(
    "nano-banana-2 with image_input and aspect_ratio auto answers in the last image's shape at the resolution asked",
    async () => {
      const images = [await uploadedImage(320, 180, "png"), await uploadedImage(300, 400, "webp")];
      const prompt = "every model: composed at 2K";
      const input = { prompt, image_input: images.map((image) => image.url), aspect_ratio: "auto", resolution: "2K" };
      const record = await runTask(main, input, main.key, "nano-banana-2");

      expect(onlyRequestFor(fake, prompt).inputImages.map((image) => image.mimeType)).toEqual(["image/png", "image/webp"]);
      const { width, height } = await imageShape((await downloadResult(record)).bytes);
      expect({ width, height }).toEqual(pixelSize("3:4", "2K"));
    },
  );
});

describe.concurrent("Gemini failures through the server", () => {
  const failures = [
    { scenario: "a blocked prompt", word: "[gemini:blocked]", failCode: "CONTENT_POLICY", failMsg: FAIL_MESSAGES.refused, attempts: 1 },
    { scenario: "an IMAGE_SAFETY finish", word: "[gemini:image-safety]", failCode: "CONTENT_POLICY", failMsg: FAIL_MESSAGES.refused, attempts: 1 },
    { scenario: "a NO_IMAGE finish", word: "[gemini:no-image]", failCode: "INVALID_OUTPUT", failMsg: FAIL_MESSAGES.noImage, attempts: 2 },
    { scenario: "a text-only answer", word: "[gemini:text-only]", failCode: "INVALID_OUTPUT", failMsg: FAIL_MESSAGES.noImage, attempts: 2 },
    { scenario: "a persistent 500", word: "[gemini:500]", failCode: "PROVIDER_ERROR", failMsg: FAIL_MESSAGES.unavailable, attempts: 3 },
    { scenario: "a 400", word: "[gemini:400]", failCode: "PROVIDER_ERROR", failMsg: FAIL_MESSAGES.rejected, attempts: 1 },
    { scenario: "a 403", word: "[gemini:403]", failCode: "PROVIDER_ERROR", failMsg: FAIL_MESSAGES.misconfigured, attempts: 1 },
    { scenario: "a 404", word: "[gemini:404]", failCode: "PROVIDER_ERROR", failMsg: FAIL_MESSAGES.rejected, attempts: 1 },
  ];

  it.each(failures)(
    "$scenario fails the task with $failCode after $attempts attempt(s), without upstream text",
    async ({ word, failCode, failMsg, attempts }) => {
      const prompt = `failing ${word}`;
      const record = await runTask(main, { prompt });

      expect(record).toMatchObject({ state: "fail", failCode, failMsg, resultJson: null });
      expect(record.costTime).toBe((record.completeTime ?? 0) - record.createTime);
      expect(record.failMsg).not.toMatch(UPSTREAM_TEXT);
      expect(requestsFor(fake, prompt)).toHaveLength(attempts);
    },
  );

  it.each([
    { scenario: "two 503s", word: "[gemini:503x2]", attempts: 3 },
    { scenario: "an answer that is not valid JSON", word: "[gemini:malformed-jsonx1]", attempts: 2 },
    { scenario: "one NO_IMAGE finish", word: "[gemini:no-imagex1]", attempts: 2 },
  ])("retries $scenario and succeeds, with $attempts attempts at the fake", async ({ word, attempts }) => {
    const prompt = `recovering ${word}`;
    const record = await runTask(main, { prompt });

    expect((await downloadResult(record)).status).toBe(200);
    expect(requestsFor(fake, prompt)).toHaveLength(attempts);
  });

  it("gives up on an attempt after GEMINI_TIMEOUT_MS and retries it", async () => {
    const prompt = "hanging once [gemini:hangx1]";
    const record = await runTask(main, { prompt });

    expect((await downloadResult(record)).status).toBe(200);
    const [first, second, ...rest] = requestsFor(fake, prompt);
    expect(rest).toEqual([]);
    // GEMINI_TIMEOUT_MS is 3000; the timer starts just before the request reaches the fake.
    expect((second?.receivedAt ?? 0) - (first?.receivedAt ?? 0)).toBeGreaterThanOrEqual(2950);
  });
});

describe("a task's deadline with Gemini", () => {
  let shortDeadline: TestServer;

  beforeAll(async () => {
    shortDeadline = await startTestServer({
      GEMINI_API_KEY: PRIMARY_KEY,
      GEMINI_BASE_URL: fake.url,
      GEMINI_MODEL: GEMINI_MODEL_ID,
      GEMINI_TIMEOUT_MS: "1000",
      GEMINI_MAX_ATTEMPTS: "5",
      TASK_TIMEOUT_MS: "500",
    });
  });

  afterAll(async () => {
    await shortDeadline.close();
  });

  it("fails a hanging task with TIMEOUT at TASK_TIMEOUT_MS and starts no attempt after it", async () => {
    const prompt = "past the deadline [gemini:hang]";
    const record = await runTask(shortDeadline, { prompt });

    expect(record).toMatchObject({ state: "fail", failCode: "TIMEOUT", resultJson: null });
    // Two timers fire at the deadline, the worker's and the Gemini attempt's, each with its own
    // sentence; which one settles the task is a race (reported as a product inconsistency).
    expect(TIMEOUT_MESSAGES).toContain(record.failMsg);
    expect(record.completeTime ?? 0).toBeGreaterThanOrEqual(record.createTime + 490);
    // Long enough for a retry after the per-attempt timeout to have shown up.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const recorded = requestsFor(fake, prompt);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]?.receivedAt ?? Number.POSITIVE_INFINITY).toBeLessThan(record.createTime + 500);
  });
});

describe("the Gemini key pool through the server", () => {
  let pooled: TestServer;

  beforeAll(async () => {
    pooled = await startTestServer({
      GEMINI_API_KEYS: "key-a,key-b",
      GEMINI_BASE_URL: fake.url,
      GEMINI_MODEL: GEMINI_MODEL_ID,
    });
  });

  afterAll(async () => {
    await pooled.close();
  });

  it("sends the next attempt with the other key after a 429 with RetryInfo", async () => {
    const prompt = "rate limited once [gemini:429:0.05sx1]";
    const record = await runTask(pooled, { prompt });

    expect(record.state).toBe("success");
    const keys = requestsFor(fake, prompt).map((recorded) => recorded.headers["x-goog-api-key"]);
    expect(keys).toHaveLength(2);
    expect([...keys].sort()).toEqual(["key-a", "key-b"]);
  });
});

describe("GEMINI_MAX_CONCURRENCY through the server", () => {
  let slowFake: FakeGeminiServer;
  let capped: TestServer;

  beforeAll(async () => {
    slowFake = await FakeGeminiServer.start({ latencyMs: 400 });
    capped = await startTestServer({
      GEMINI_API_KEY: PRIMARY_KEY,
      GEMINI_BASE_URL: slowFake.url,
      GEMINI_MAX_CONCURRENCY: "2",
    });
  });

  afterAll(async () => {
    await capped.close();
    await slowFake.close();
  });

  it("keeps at most 2 calls at Gemini while the other tasks read queuing", async () => {
    const taskIds = await Promise.all(
      Array.from({ length: 6 }, (_, index) => createTask(capped, { prompt: `capped ${index}` })),
    );

    await waitUntil(() => slowFake.inFlight === 2, "two calls in flight at the fake");
    const states = await Promise.all(
      taskIds.map(async (taskId) => {
        const answer = await call<TaskData>(capped.baseUrl, "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, {
          key: capped.key,
        });
        return answer.body.data.state;
      }),
    );
    expect(states.filter((state) => state === "generating")).toHaveLength(2);
    expect(states.filter((state) => state === "queuing")).toHaveLength(4);

    const records = await Promise.all(taskIds.map((taskId) => waitForTerminal(capped.baseUrl, capped.key, taskId)));
    expect(records.map(({ record }) => record.state)).toEqual(Array.from({ length: 6 }, () => "success"));
    expect(slowFake.maxInFlight).toBe(2);
    expect(slowFake.requests).toHaveLength(6);
  });
});

describe("the fallback route through the server", () => {
  let first: FakeGeminiServer;
  let second: FakeGeminiServer;
  let withFallback: TestServer;

  beforeAll(async () => {
    first = await FakeGeminiServer.start({ defaultAnswer: { kind: "status", status: 503 } });
    second = await FakeGeminiServer.start();
    withFallback = await startTestServer({
      GEMINI_API_KEY: PRIMARY_KEY,
      GEMINI_BASE_URL: first.url,
      GEMINI_MODEL: GEMINI_MODEL_ID,
      GEMINI_MAX_ATTEMPTS: "2",
      GEMINI_FALLBACK_BASE_URL: second.url,
    });
  });

  afterAll(async () => {
    await withFallback.close();
    await first.close();
    await second.close();
  });

  it("succeeds from GEMINI_FALLBACK_BASE_URL once the first route gives up, with the primary's key and model", async () => {
    const prompt = "first route down";
    const record = await runTask(withFallback, { prompt, image_size: "3:2" });

    const download = await downloadResult(record);
    expect(await imageShape(download.bytes)).toEqual({ format: "png", width: 1264, height: 848 });
    expect(requestsFor(first, prompt)).toHaveLength(2);
    const fallbackRequest = onlyRequestFor(second, prompt);
    expect(fallbackRequest.apiKey).toBe(PRIMARY_KEY);
    expect(fallbackRequest.model).toBe(GEMINI_MODEL_ID);
  });

  it("does not fall back on a CONTENT_POLICY answer", async () => {
    const prompt = "refused on the first route [gemini:blocked]";
    const record = await runTask(withFallback, { prompt });

    expect(record).toMatchObject({ state: "fail", failCode: "CONTENT_POLICY", failMsg: FAIL_MESSAGES.refused });
    expect(requestsFor(first, prompt)).toHaveLength(1);
    expect(requestsFor(second, prompt)).toHaveLength(0);
  });

  it("uses GEMINI_FALLBACK_API_KEYS and GEMINI_FALLBACK_MODEL on the second route when set", async () => {
    const configured = await startTestServer({
      GEMINI_API_KEY: PRIMARY_KEY,
      GEMINI_BASE_URL: first.url,
      GEMINI_MAX_ATTEMPTS: "1",
      GEMINI_FALLBACK_BASE_URL: second.url,
      GEMINI_FALLBACK_API_KEYS: "fallback-key",
      GEMINI_FALLBACK_MODEL: "gemini-fallback-model",
    });
    try {
      const prompt = "fallback with its own key and model";
      const record = await runTask(configured, { prompt });

      expect(record.state).toBe("success");
      const fallbackRequest = onlyRequestFor(second, prompt);
      expect([fallbackRequest.apiKey, fallbackRequest.model]).toEqual(["fallback-key", "gemini-fallback-model"]);
    } finally {
      await configured.close();
    }
  });

  it("falls back when the first route rejects its key, and the second serves with its own", async () => {
    const rejecting = await FakeGeminiServer.start({ allowedKeys: ["some-other-key"] });
    const configured = await startTestServer({
      GEMINI_API_KEY: "rejected-key",
      GEMINI_BASE_URL: rejecting.url,
      GEMINI_FALLBACK_BASE_URL: second.url,
      GEMINI_FALLBACK_API_KEYS: "fallback-key",
    });
    try {
      const prompt = "first key rejected";
      const record = await runTask(configured, { prompt });
      expect(record.state).toBe("success");
      expect(requestsFor(rejecting, prompt)).toHaveLength(1);
      expect(onlyRequestFor(second, prompt).apiKey).toBe("fallback-key");
    } finally {
      await configured.close();
      await rejecting.close();
    }
  });
});

describe("credits of Gemini tasks", () => {
  it("releases a failed task's hold in full", async () => {
    const key = await main.newAccountKey("gemini-failing", "live", 100);
    const account = await main.server.accounts.findAccount("gemini-failing");
    const accountId = account?.id ?? "";

    const record = await runTask(main, { prompt: "credits refused [gemini:blocked]" }, key);

    expect(record.failCode).toBe("CONTENT_POLICY");
    expect(await main.server.accounts.balance(accountId)).toBe(100);
    expect(await main.server.accounts.ledgerSum(accountId)).toBe(100);
  });

  it("charges a successful task exactly its price", async () => {
    const key = await main.newAccountKey("gemini-paying", "live", 100);
    const account = await main.server.accounts.findAccount("gemini-paying");
    const accountId = account?.id ?? "";

    const record = await runTask(main, { prompt: "credits paid" }, key);

    expect(record.state).toBe("success");
    expect(await main.server.accounts.balance(accountId)).toBe(100 - PRICE);
    expect(await main.server.accounts.ledgerSum(accountId)).toBe(100 - PRICE);
    const credit = await call<number>(main.baseUrl, "GET", "/api/v1/chat/credit", { key });
    expect(credit.body).toEqual({ code: 200, msg: "success", data: 100 - PRICE });
  });
});

describe("test-mode keys with Gemini configured", () => {
  it("are served by the sandbox and never reach Gemini", async () => {
    const testKey = await main.newAccountKey("gemini-tester", "test");
    const requestsBefore = fake.requests.length;
    const prompt = "a test-mode banana";

    const record = await runTask(main, { prompt, image_size: "9:16" }, testKey);

    const download = await downloadResult(record);
    expect(await imageShape(download.bytes)).toEqual({ format: "png", width: 768, height: 1376 });
    expect(requestsFor(fake, prompt)).toHaveLength(0);
    expect(fake.requests).toHaveLength(requestsBefore);
  });
});

describe("/readyz with Gemini", () => {
  const GOOD_KEY = "the-accepted-key";
  let guardedFake: FakeGeminiServer;

  beforeAll(async () => {
    guardedFake = await FakeGeminiServer.start({ allowedKeys: [GOOD_KEY] });
  });

  afterAll(async () => {
    await guardedFake.close();
  });

  it("answers 503 naming the gemini provider once a task failed on a key Gemini does not accept", async () => {
    const badKey = "a-key-gemini-refuses";
    const harness = await startTestServer({ GEMINI_API_KEY: badKey, GEMINI_BASE_URL: guardedFake.url });
    try {
      const record = await runTask(harness, { prompt: "with a refused key" });
      expect(record).toMatchObject({ state: "fail", failCode: "PROVIDER_ERROR", failMsg: FAIL_MESSAGES.misconfigured });
      expect(requestsFor(guardedFake, "with a refused key")).toHaveLength(1);

      const ready = await readiness(harness);
      expect(ready).toEqual(geminiNotReady("Gemini rejected every configured API key (API_KEY_INVALID); check GEMINI_API_KEY / GEMINI_API_KEYS"));
      expect(JSON.stringify(ready)).not.toContain(badKey);
    } finally {
      await harness.close();
    }
  });

  it("answers 503 naming the model and GEMINI_MODEL when Gemini's model listing has no such model, and logs it once", async () => {
    const listing = await FakeGeminiServer.start({ models: DEFAULT_UPSTREAMS });
    const lines: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(line) });
    const harness = await startTestServer(
      { GEMINI_API_KEY: GOOD_KEY, GEMINI_BASE_URL: listing.url, GEMINI_MODEL: "gemini-retired-image" },
      { logger },
    );
    try {
      const reason = `Gemini serves no model gemini-retired-image (${MODEL}); set GEMINI_MODEL to a model it serves`;
      await waitUntil(() => listing.listingRequests.length > 0, "the model check");
      let ready = await readiness(harness);
      for (const until = Date.now() + 5_000; ready.status !== 503 && Date.now() < until; ) ready = await readiness(harness);
      expect(ready).toEqual(geminiNotReady(reason));
      const asked = listing.listingRequests.find((recorded) => recorded.model === "gemini-retired-image");
      expect(asked).toMatchObject({ path: "/v1beta/models/gemini-retired-image", apiKey: GOOD_KEY });
      const logged = lines.map((line) => JSON.parse(line) as { msg: string; level: number }).filter((line) => line.msg.includes(reason));
      expect(logged).toEqual([
        expect.objectContaining({
          level: 50,
          msg: `OPERATOR ACTION NEEDED: ${reason}`,
          provider: "gemini",
          model: "gemini-retired-image",
          publicModels: [MODEL],
          settings: ["GEMINI_MODEL"],
        }),
      ]);
      // Each field once: JSON with a repeated key reads as its last value, but log shippers differ.
      expect(lines.find((line) => line.includes(reason))?.match(/"provider":/g)).toHaveLength(1);

      // Once the upstream serves the model again, the next task that gets an image makes it ready.
      listing.setModels([...DEFAULT_UPSTREAMS, "gemini-retired-image"]);
      const record = await runTask(harness, { prompt: "after the model came back" });
      expect(record.state).toBe("success");
      expect((await readiness(harness)).status).toBe(200);
    } finally {
      await harness.close();
      await listing.close();
    }
  });

  it("answers 503 naming the public model and GEMINI_MODEL_MAP when a mapped model is not served", async () => {
    const listing = await FakeGeminiServer.start({ models: DEFAULT_UPSTREAMS });
    const harness = await startTestServer({
      GEMINI_API_KEY: GOOD_KEY,
      GEMINI_BASE_URL: listing.url,
      GEMINI_MODEL_MAP: "nano-banana-pro=gemini-retired-pro-image,nano-banana-2=gemini-retired-pro-image",
    });
    try {
      let ready = await readiness(harness);
      for (const until = Date.now() + 5_000; ready.status !== 503 && Date.now() < until; ) ready = await readiness(harness);
      expect(ready).toEqual(
        geminiNotReady(
          "Gemini serves no model gemini-retired-pro-image (nano-banana-pro, nano-banana-2); " +
            "set GEMINI_MODEL_MAP to map nano-banana-pro, nano-banana-2 to a model it serves",
        ),
      );
      // Each distinct upstream id is asked once; gemini-3-pro-image serves no model any more.
      await waitUntil(() => listing.listingRequests.length === 3, "the model checks");
      expect(listing.listingRequests.map((recorded) => recorded.model).sort()).toEqual([
        "gemini-3.1-flash-lite-image",
        "gemini-nano-banana-2.1",
        "gemini-retired-pro-image",
      ]);
    } finally {
      await harness.close();
      await listing.close();
    }
  });

  it("stays ready while one route's model is served, and names each route's variable when neither is", async () => {
    const listing = await FakeGeminiServer.start({ models: [...DEFAULT_UPSTREAMS, "gemini-current-image"] });
    const harness = await startTestServer({
      GEMINI_API_KEY: GOOD_KEY,
      GEMINI_BASE_URL: listing.url,
      GEMINI_MODEL: "gemini-current-image",
      GEMINI_FALLBACK_MODEL: "gemini-retired-image",
    });
    try {
      // Each route asks for its seed model's id and the other models' defaults.
      await waitUntil(() => listing.listingRequests.length === 2 * (DEFAULT_UPSTREAMS.length + 1), "both routes' model checks");
      await new Promise((resolve) => setTimeout(resolve, 50));
      const ready = await readiness(harness);
      expect(ready.status).toBe(200);
      expect(ready.data.checks).toContainEqual({ name: "provider:gemini>gemini-fallback", ok: true });
    } finally {
      await harness.close();
    }
    const neither = await startTestServer({
      GEMINI_API_KEY: GOOD_KEY,
      GEMINI_BASE_URL: listing.url,
      GEMINI_MODEL: "gemini-old-image",
      GEMINI_FALLBACK_MODEL: "gemini-retired-image",
    });
    try {
      let ready = await readiness(neither);
      for (const until = Date.now() + 5_000; ready.status !== 503 && Date.now() < until; ) ready = await readiness(neither);
      expect(ready.data.checks).toContainEqual({
        name: "provider:gemini>gemini-fallback",
        ok: false,
        reason:
          `Gemini serves no model gemini-old-image (${MODEL}); set GEMINI_MODEL to a model it serves; ` +
          `Gemini serves no model gemini-retired-image (${MODEL}); set GEMINI_FALLBACK_MODEL to a model it serves`,
      });
    } finally {
      await neither.close();
      await listing.close();
    }
  });

  it("answers 200 with a key Gemini accepts", async () => {
    const harness = await startTestServer({ GEMINI_API_KEY: GOOD_KEY, GEMINI_BASE_URL: guardedFake.url });
    try {
      const record = await runTask(harness, { prompt: "with an accepted key" });
      expect(record.state).toBe("success");

      const ready = await readiness(harness);
      expect(ready).toEqual({
        status: 200,
        code: 200,
        msg: "success",
        data: {
          checks: [
            { name: "database", ok: true },
            { name: "files", ok: true },
            { name: "provider:gemini", ok: true },
            { name: "provider:sandbox", ok: true },
          ],
        },
      });
    } finally {
      await harness.close();
    }
  });
});
