import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pixelSize, type AspectRatio, type PixelSize, type Resolution } from "../../src/domain/catalog/aspect-ratios.ts";
import type { ModelDefinition } from "../../src/domain/catalog/model.ts";
import { MODELS } from "../../src/domain/catalog/models/index.ts";
import { FakeGeminiServer } from "../fakes/fake-gemini-server.ts";
import { ImageOrigin } from "../helpers/image-origin.ts";
import { call, startTestServer, waitForTerminal, type TaskData, type TestServer } from "../helpers/test-server.ts";

/** The last reference image of every case is 3:2, so `auto` with inputs is 3:2 (the shape follows the last input). */
const LAST_INPUT = { width: 300, height: 200 } as const;
const OTHER_INPUTS = [
  { width: 200, height: 300, format: "jpeg" },
  { width: 256, height: 256, format: "webp" },
  { width: 320, height: 180, format: "png" },
] as const;
/** Tasks in flight at once: enough to overlap the waits, few enough for a small machine. */
const BATCH = 12;

interface Case {
  name: string;
  model: string;
  input: Record<string, unknown>;
  expected: PixelSize & { format: "png" | "jpeg" };
}

function inputUrls(origin: ImageOrigin, count: number): string[] {
  const urls = Array.from({ length: count - 1 }, (_, index) => {
    const shape = OTHER_INPUTS[index % OTHER_INPUTS.length] ?? OTHER_INPUTS[0];
    return origin.picture(shape.width, shape.height, shape.format);
  });
  return count === 0 ? [] : [...urls, origin.picture(LAST_INPUT.width, LAST_INPUT.height, "png")];
}

/**
 * Every ratio at every resolution a model allows; at 1K each with no reference image (where the
 * model allows none), with one, and with its maximum; at 2K and 4K alternately one and the maximum.
 */
function casesOf(model: ModelDefinition, origin: ImageOrigin): Case[] {
  const { limits } = model.describe;
  const properties = Object.keys((model.inputSchema.toJSONSchema() as { properties: Record<string, unknown> }).properties);
  const ratioField = properties.includes("image_size") ? "image_size" : "aspect_ratio";
  const cases: Case[] = [];
  for (const resolution of limits.resolutions) {
    const ratios = limits.ratios.filter((ratio) => resolution === "1K" || !limits.ratiosOnlyAt1K.includes(ratio));
    for (const [index, ratio] of ratios.entries()) {
      const images = limits.inputImages;
      let counts: number[];
      if (images === null) counts = [0];
      else if (resolution === "1K") counts = [...new Set([images.min, Math.max(1, images.min), images.max])];
      else counts = [index % 2 === 0 ? Math.max(1, images.min) : images.max];
      for (const count of counts) {
        const format = (index + count) % 2 === 0 ? "png" : "jpeg";
        const input: Record<string, unknown> = { prompt: `${model.id} ${ratio} ${resolution} ${count}`, [ratioField]: ratio, output_format: format === "jpeg" ? "jpg" : "png" };
        if (limits.resolutions.length > 1) input.resolution = resolution;
        if (count > 0 && model.imagesField !== null) input[model.imagesField] = inputUrls(origin, count);
        const shape: AspectRatio = ratio === "auto" ? (count > 0 ? "3:2" : "1:1") : ratio;
        cases.push({
          name: `${model.id} ${ratio} ${resolution} with ${count} image${count === 1 ? "" : "s"}`,
          model: model.id,
          input,
          expected: { ...pixelSize(shape, resolution as Resolution), format },
        });
      }
    }
  }
  return cases;
}

async function runCase(harness: TestServer, key: string, entry: Case): Promise<{ record: TaskData; shape: unknown }> {
  const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
    key,
    body: { model: entry.model, input: entry.input },
  });
  expect([created.status, created.body.msg], entry.name).toEqual([200, "success"]);
  const { record } = await waitForTerminal(harness.baseUrl, key, created.body.data.taskId, 120_000);
  if (record.state !== "success") return { record, shape: null };
  const url = (JSON.parse(record.resultJson ?? "{}") as { resultUrls: string[] }).resultUrls[0] ?? "";
  const bytes = Buffer.from(await (await fetch(url)).arrayBuffer());
  const metadata = await sharp(bytes).metadata();
  return { record, shape: { width: metadata.width, height: metadata.height, format: metadata.format } };
}

async function runAll(harness: TestServer, key: string, cases: Case[]): Promise<void> {
  for (let start = 0; start < cases.length; start += BATCH) {
    const batch = cases.slice(start, start + BATCH);
    const outcomes = await Promise.all(batch.map((entry) => runCase(harness, key, entry)));
    for (const [index, outcome] of outcomes.entries()) {
      const entry = batch[index];
      if (entry === undefined) continue;
      expect([outcome.record.state, outcome.record.failMsg], entry.name).toEqual(["success", null]);
      expect(outcome.shape, entry.name).toEqual(entry.expected);
    }
  }
}

let origin: ImageOrigin;
let fake: FakeGeminiServer;
let harness: TestServer;
let liveKey: string;
let testKey: string;

beforeAll(async () => {
  origin = await ImageOrigin.start();
  fake = await FakeGeminiServer.start();
  harness = await startTestServer({
    GEMINI_API_KEY: "matrix-key",
    GEMINI_BASE_URL: fake.url,
    SANDBOX_LATENCY_MS: "0",
    INPUT_IMAGE_ALLOW_PRIVATE: "true",
  });
  liveKey = harness.key;
  testKey = await harness.newAccountKey("matrix-sandbox", "test");
});

afterAll(async () => {
  await harness.close();
  await fake.close();
  await origin.close();
});

describe("every model, ratio, resolution and count of reference images", () => {
  it.each(MODELS.map((model) => [model.id, model] as const))("runs %s end to end on the sandbox, each result of the size asked", async (_id, model) => {
    await runAll(harness, testKey, casesOf(model, origin));
  });

  it.each(MODELS.map((model) => [model.id, model] as const))("runs %s end to end on the fake Gemini, each result of the size asked", async (_id, model) => {
    await runAll(harness, liveKey, casesOf(model, origin));
  });
});
