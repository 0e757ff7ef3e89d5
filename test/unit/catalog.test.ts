import { describe, expect, it } from "vitest";
import { Catalog } from "../../src/domain/catalog/catalog.ts";

const catalog = new Catalog();
const url = (index: number) => `https://images.example.com/${index}.png`;
const urls = (count: number) => Array.from({ length: count }, (_, index) => url(index));

function refusal(model: string, input: unknown): string {
  const result = catalog.validate(model, input);
  if (result.ok) throw new Error(`expected ${JSON.stringify(input)} to be refused for ${model}`);
  return result.message;
}

function accepted(model: string, input: unknown) {
  const result = catalog.validate(model, input);
  if (!result.ok) throw new Error(`expected acceptance, got: ${result.message}`);
  return result.value.input;
}

describe("the catalog's models", () => {
  it("apply each model's defaults, leaving default fields out of the stored input", () => {
    expect(accepted("nano-banana-text-to-image", { prompt: "p" })).toEqual({ prompt: "p", aspectRatio: "1:1", outputFormat: "png", safetyChecking: true });
    expect(accepted("nano-banana-pro", { prompt: "p" })).toEqual({ prompt: "p", aspectRatio: "1:1", outputFormat: "png", safetyChecking: true, resolution: "1K" });
    expect(accepted("nano-banana-2", { prompt: "p" })).toEqual({ prompt: "p", aspectRatio: "auto", outputFormat: "jpeg", safetyChecking: true, resolution: "1K" });
    expect(accepted("nano-banana-2-lite", { prompt: "p" })).toEqual({ prompt: "p", aspectRatio: "auto", outputFormat: "png", safetyChecking: true });
  });

  it("keep the reference images in the client's order under either field name", () => {
    expect(accepted("nano-banana-pro", { prompt: "p", image_input: [url(2), url(1)] }).imageUrls).toEqual([url(2), url(1)]);
    expect(accepted("nano-banana-pro", { prompt: "p", image_urls: [url(1)] }).imageUrls).toEqual([url(1)]);
    expect(accepted("google/nano-banana-edit", { prompt: "p", image_input: [url(1)] }).imageUrls).toEqual([url(1)]);
  });

  it("accept jpg and jpeg for every model, stored as a JPEG", () => {
    for (const model of catalog.list()) {
      const images = model.describe.limits.inputImages?.min ? { image_urls: [url(0)] } : {};
      for (const format of ["jpg", "jpeg"]) {
        expect(accepted(model.id, { prompt: "p", output_format: format, ...images }).outputFormat).toBe("jpeg");
      }
    }
  });

  it("accept every model's maximum of images and refuse one more, naming the model's limit", () => {
    for (const [model, field, max] of [
      ["google/nano-banana-edit", "image_urls", 10],
      ["nano-banana-pro", "image_input", 8],
      ["nano-banana-2", "image_input", 14],
      ["nano-banana-2-lite", "image_urls", 10],
      ["nano-banana-2-1", "image_input", 10],
    ] as const) {
      expect(accepted(model, { prompt: "p", [field]: urls(max) }).imageUrls).toHaveLength(max);
      expect(refusal(model, { prompt: "p", [field]: urls(max + 1) })).toBe(`input.${field} holds ${max + 1} images; ${model} takes at most ${max}`);
    }
  });

  it.each([
    ["google/nano-banana-edit", { prompt: "p" }, "input.image_urls is required: give 1 to 10 image URLs"],
    ["google/nano-banana-edit", { prompt: "p", image_urls: [] }, "input.image_urls must hold at least 1 image URL"],
    ["google/nano-banana-edit", { prompt: "p", image_urls: "https://a.example/x.png" }, "input.image_urls must be an array of 1 to 10 image URLs"],
    ["nano-banana-pro", { prompt: "p", image_input: [url(0), url(1), url(2), "ftp://a.example/x.png"] }, "input.image_input[3] must be an http or https URL; upload a local file first with POST /api/file-stream-upload or /api/file-base64-upload"],
    ["nano-banana-pro", { prompt: "p", image_input: ["not a url"] }, "input.image_input[0] must be an absolute http or https URL"],
    ["nano-banana-pro", { prompt: "p", image_input: [42] }, "input.image_input[0] must be a URL string"],
    ["nano-banana-pro", { prompt: "p", image_input: ["https://user:pw@a.example/x.png"] }, "input.image_input[0] must not carry a user name or password"],
    ["nano-banana-pro", { prompt: "p", image_input: [`https://a.example/${"x".repeat(2048)}`] }, "input.image_input[0] must be at most 2048 characters"],
    ["nano-banana-pro", { prompt: "p", image_input: [url(0)], image_urls: [url(0)] }, "input.image_input and input.image_urls are the same field; give one of them"],
    ["nano-banana-pro", { prompt: "p", resolution: "8K" }, "input.resolution must be one of 1K, 2K, 4K"],
    ["nano-banana-pro", { prompt: "p", resolution: "2k" }, "input.resolution must be one of 1K, 2K, 4K"],
    ["nano-banana-pro", { prompt: "p", aspect_ratio: "1:4" }, "input.aspect_ratio must be one of 1:1, 9:16, 16:9, 3:4, 4:3, 3:2, 2:3, 5:4, 4:5, 21:9, auto"],
    ["nano-banana-pro", { prompt: "p".repeat(10_001) }, "input.prompt must be at most 10000 characters"],
    ["nano-banana-pro", { prompt: "p", output_format: "webp" }, "input.output_format must be one of png, jpg"],
    ["nano-banana-pro", { prompt: "p", image_size: "1:1" }, "input.image_size is not a known field of nano-banana-pro; the known fields are prompt, aspect_ratio, image_input, image_urls, resolution, output_format, nsfw_checker"],
    ["nano-banana-pro", { prompt: "p", google_search: true }, "input.google_search is not a known field of nano-banana-pro; the known fields are prompt, aspect_ratio, image_input, image_urls, resolution, output_format, nsfw_checker"],
    ["nano-banana-2", { prompt: "p", aspect_ratio: "1:8", resolution: "2K" }, "input.aspect_ratio 1:8 is offered only at resolution 1K, not 2K"],
    ["nano-banana-2-1", { prompt: "p", aspect_ratio: "4:1", resolution: "4K" }, "input.aspect_ratio 4:1 is offered only at resolution 1K, not 4K"],
    ["nano-banana-2", { prompt: "p", google_search: "yes" }, "input.google_search must be a boolean (true or false)"],
    ["nano-banana-2-lite", { prompt: "p", resolution: "1K" }, "input.resolution is not a known field of nano-banana-2-lite; the known fields are prompt, aspect_ratio, image_urls, image_input, output_format, nsfw_checker"],
    ["google/nano-banana", { prompt: "p", image_urls: [url(0)] }, "input.image_urls is not a known field of google/nano-banana; the known fields are prompt, image_size, aspect_ratio, output_format, nsfw_checker"],
    ["google/nano-banana", { prompt: "p", image_size: "16:9", aspect_ratio: "1:1" }, "input.aspect_ratio and input.image_size disagree; give one of them, or the same value in both"],
    ["google/nano-banana", { prompt: "p", output_format: "gif" }, "input.output_format must be one of png, jpeg"],
  ])("%s refuses %j: %s", (model, input, message) => {
    expect(refusal(model, input)).toBe(message);
  });

  it("offer the extreme ratios at 1K on Nano Banana 2 and its route's models", () => {
    expect(accepted("nano-banana-2", { prompt: "p", aspect_ratio: "8:1" })).toMatchObject({ aspectRatio: "8:1", resolution: "1K" });
    expect(accepted("nano-banana-2-lite", { prompt: "p", aspect_ratio: "1:8" })).toMatchObject({ aspectRatio: "1:8" });
    expect(accepted("nano-banana-2", { prompt: "p", google_search: true, resolution: "4K", aspect_ratio: "21:9" })).toMatchObject({ googleSearch: true, resolution: "4K" });
  });

  it("predict the result size, except for auto with reference images", () => {
    const pro = catalog.find("nano-banana-pro");
    expect(pro?.expectedSize(accepted("nano-banana-pro", { prompt: "p", aspect_ratio: "16:9", resolution: "4K" }))).toEqual({ width: 5504, height: 3072 });
    expect(pro?.expectedSize(accepted("nano-banana-pro", { prompt: "p", aspect_ratio: "auto" }))).toEqual({ width: 1024, height: 1024 });
    expect(pro?.expectedSize(accepted("nano-banana-pro", { prompt: "p", aspect_ratio: "auto", image_input: [url(0)] }))).toBeNull();
  });

  it("price each resolution, configured prices over the defaults", () => {
    const configured = new Catalog({ prices: { "nano-banana-pro": { "4K": 40 }, "nano-banana-2": 3 } });
    expect([configured.price("nano-banana-pro", "1K"), configured.price("nano-banana-pro", "4K"), configured.price("nano-banana-pro")]).toEqual([18, 40, 18]);
    expect(configured.prices("nano-banana-2")).toEqual({ "1K": 3, "2K": 3, "4K": 3 });
    expect(configured.price("nano-banana-text-to-image")).toBe(4);
    expect(configured.price("dall-e")).toBe(0);
  });
});
