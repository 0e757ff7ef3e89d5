import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PIXEL_SIZES } from "../../src/domain/catalog/aspect-ratios.ts";
import { Catalog } from "../../src/domain/catalog/catalog.ts";
import { call, MODEL, startTestServer, type TestServer } from "../helpers/test-server.ts";

interface ModelData {
  id: string;
  description: string;
  price: number;
  inputSchema: { type: string; properties: Record<string, unknown>; required: string[]; additionalProperties: boolean };
  defaults: Record<string, unknown>;
  limits: { promptMaxCharacters: number; inputImages: { min: number; max: number } | null };
  resultSizes: Record<string, string>;
}

describe("GET /api/v1/models", () => {
  let harness: TestServer;

  beforeAll(async () => {
    harness = await startTestServer({ PRICE_NANO_BANANA_TEXT_TO_IMAGE: "7" });
  });
  afterAll(async () => {
    await harness.close();
  });

  it("lists each model with its input schema, defaults, limits, result sizes and configured price", async () => {
    const answer = await call<ModelData[]>(harness.baseUrl, "GET", "/api/v1/models", { key: harness.key });
    expect(answer.status).toBe(200);
    expect(answer.body.code).toBe(200);
    expect(answer.body.data.map((model) => model.id)).toEqual([MODEL]);
    const [model] = answer.body.data;
    expect(model).toMatchObject({
      id: MODEL,
      price: 7,
      defaults: { image_size: "1:1", output_format: "png", nsfw_checker: true },
      limits: { promptMaxCharacters: 20_000, inputImages: null },
    });
    expect(model?.inputSchema).toMatchObject({ type: "object", required: ["prompt"], additionalProperties: false });
    expect(Object.keys(model?.inputSchema.properties ?? {})).toEqual(["prompt", "image_size", "aspect_ratio", "output_format", "nsfw_checker"]);
    expect(model?.resultSizes).toEqual(
      Object.fromEntries(Object.entries(PIXEL_SIZES).map(([ratio, size]) => [ratio, `${size.width}x${size.height}`])),
    );
    expect(model?.resultSizes["16:9"]).toBe("1344x768");
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
      const omitted = model.normalize({ prompt: "a lighthouse" });
      const given = model.normalize({ prompt: "a lighthouse", ...model.describe.defaults });
      expect(given).toEqual(omitted);
      expect(model.inputSchema.safeParse({ prompt: "a lighthouse", ...model.describe.defaults }).success).toBe(true);
    },
  );
});
