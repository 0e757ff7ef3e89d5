import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pixelSize, type FixedAspectRatio } from "../../src/domain/catalog/aspect-ratios.ts";
import { Catalog } from "../../src/domain/catalog/catalog.ts";
import { call, MODEL, startTestServer, type TestServer } from "../helpers/test-server.ts";

interface ModelData {
  id: string;
  description: string;
  price: number;
  prices: Record<string, number>;
  inputSchema: { type: string; properties: Record<string, unknown>; required: string[]; additionalProperties: boolean };
  defaults: Record<string, unknown>;
  limits: { promptMaxCharacters: number; inputImages: { min: number; max: number } | null; ratios: string[]; resolutions: string[]; ratiosOnlyAt1K: string[] };
  resultSizes: Record<string, Record<string, string>>;
}

const sizeText = (ratio: string, resolution: "1K" | "2K" | "4K") => {
  const size = pixelSize(ratio as FixedAspectRatio, resolution);
  return `${size.width}x${size.height}`;
};

describe("GET /api/v1/models", () => {
  let harness: TestServer;
  let models: ModelData[];

  beforeAll(async () => {
    harness = await startTestServer({ PRICE_NANO_BANANA_TEXT_TO_IMAGE: "7", PRICES: '{"nano-banana-pro": {"4K": 30}}' });
    const answer = await call<ModelData[]>(harness.baseUrl, "GET", "/api/v1/models", { key: harness.key });
    expect([answer.status, answer.body.code]).toEqual([200, 200]);
    models = answer.body.data;
  });
  afterAll(async () => {
    await harness.close();
  });
  const byId = (id: string) => models.find((model) => model.id === id);

  it("lists every model of the family, the seed first", () => {
    expect(models.map((model) => model.id)).toEqual([
      MODEL,
      "google/nano-banana",
      "google/nano-banana-edit",
      "nano-banana-pro",
      "nano-banana-2",
      "nano-banana-2-lite",
      "nano-banana-2-1",
    ]);
  });

  it("shows the seed model with its schema, defaults, limits, 1K sizes and configured price", () => {
    const model = byId(MODEL);
    expect(model).toMatchObject({
      price: 7,
      prices: { "1K": 7 },
      defaults: { image_size: "1:1", output_format: "png", nsfw_checker: true },
      limits: { promptMaxCharacters: 20_000, inputImages: null, resolutions: ["1K"], ratiosOnlyAt1K: [] },
    });
    expect(model?.inputSchema).toMatchObject({ type: "object", required: ["prompt"], additionalProperties: false });
    expect(Object.keys(model?.inputSchema.properties ?? {})).toEqual(["prompt", "image_size", "aspect_ratio", "output_format", "nsfw_checker"]);
    expect(Object.keys(model?.resultSizes ?? {})).toEqual(["1K"]);
    expect(model?.resultSizes["1K"]?.["16:9"]).toBe("1376x768");
    expect(Object.keys(model?.resultSizes["1K"] ?? {})).toHaveLength(10);
  });

  it("shows per-resolution prices, configured ones over the defaults", () => {
    expect(byId("nano-banana-pro")).toMatchObject({ price: 18, prices: { "1K": 18, "2K": 18, "4K": 30 } });
    expect(byId("nano-banana-2")).toMatchObject({ price: 8, prices: { "1K": 8, "2K": 12, "4K": 18 } });
    expect(byId("google/nano-banana-edit")).toMatchObject({ price: 4, prices: { "1K": 4 } });
  });

  it.each([
    ["google/nano-banana", null, 10, ["1K"], "image_size"],
    ["google/nano-banana-edit", { min: 1, max: 10 }, 10, ["1K"], "image_size"],
    ["nano-banana-pro", { min: 0, max: 8 }, 10, ["1K", "2K", "4K"], "aspect_ratio"],
    ["nano-banana-2", { min: 0, max: 14 }, 14, ["1K", "2K", "4K"], "aspect_ratio"],
    ["nano-banana-2-lite", { min: 0, max: 10 }, 14, ["1K"], "aspect_ratio"],
    ["nano-banana-2-1", { min: 0, max: 10 }, 14, ["1K", "2K", "4K"], "aspect_ratio"],
  ] as const)("shows %s with its images, ratios, resolutions and sizes", (id, images, ratioCount, resolutions, ratioField) => {
    const model = byId(id);
    expect(model?.limits.inputImages).toEqual(images);
    expect(model?.limits.ratios).toHaveLength(ratioCount + 1);
    expect(model?.limits.ratios).toContain("auto");
    expect(model?.limits.resolutions).toEqual(resolutions);
    expect(model?.inputSchema.properties).toHaveProperty(ratioField);
    expect(model?.inputSchema.required).toEqual(["prompt"]);
    for (const resolution of resolutions) {
      const sizes = model?.resultSizes[resolution] ?? {};
      for (const [ratio, size] of Object.entries(sizes)) expect(size).toBe(sizeText(ratio, resolution));
      const expected = model?.limits.ratios.filter(
        (ratio) => ratio !== "auto" && (resolution === "1K" || !model.limits.ratiosOnlyAt1K.includes(ratio)),
      );
      expect(Object.keys(sizes).sort()).toEqual([...(expected ?? [])].sort());
    }
  });

  it("offers the extreme ratios of Nano Banana 2 only at 1K", () => {
    expect(byId("nano-banana-2")?.limits.ratiosOnlyAt1K).toEqual(["1:4", "4:1", "1:8", "8:1"]);
    expect(byId("nano-banana-2")?.resultSizes["1K"]?.["1:8"]).toBe("384x3072");
    expect(byId("nano-banana-2")?.resultSizes["4K"]?.["1:8"]).toBeUndefined();
    expect(byId("nano-banana-2")?.resultSizes["4K"]?.["16:9"]).toBe("5504x3072");
  });

  it("answers 401 without a key, like every /api/v1 route", async () => {
    const answer = await call(harness.baseUrl, "GET", "/api/v1/models");
    expect(answer.status).toBe(401);
    expect(answer.body).toMatchObject({ code: 401, data: null });
  });
});

describe("the catalog's published defaults", () => {
  it.each(new Catalog().list().map((model) => [model.id, model] as const))(
    "are what %s applies when a field is left out",
    (_id, model) => {
      // A model that requires reference images gets one: it has no default for them.
      const base = { prompt: "a lighthouse", ...(model.describe.limits.inputImages?.min ? { image_urls: ["https://example.com/a.png"] } : {}) };
      const omitted = model.normalize(base);
      const given = model.normalize({ ...base, ...model.describe.defaults });
      expect(given).toEqual(omitted);
      expect(model.inputSchema.safeParse({ ...base, ...model.describe.defaults }).success).toBe(true);
    },
  );
});
