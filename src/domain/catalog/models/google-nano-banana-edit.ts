import { BASE_RATIOS } from "../aspect-ratios.ts";
import { defineImageModel } from "../define-model.ts";

/** kie.ai's `google/nano-banana-edit`: edits or composes 1 to 10 reference images. */
export const googleNanoBananaEdit = defineImageModel({
  id: "google/nano-banana-edit",
  description: "Nano Banana: edit or compose from 1 to 10 reference images.",
  geminiModel: "gemini-nano-banana-2.1",
  promptMaxCharacters: 20_000,
  ratioFields: ["image_size", "aspect_ratio"],
  ratios: [...BASE_RATIOS, "auto"],
  defaultRatio: "1:1",
  images: { fields: ["image_urls", "image_input"], min: 1, max: 10 },
  resolutions: null,
  outputFormats: ["png", "jpeg"],
  defaultOutputFormat: "png",
  googleSearch: false,
  prices: { "1K": 4 },
});
