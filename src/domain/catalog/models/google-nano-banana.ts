import { BASE_RATIOS } from "../aspect-ratios.ts";
import { defineImageModel } from "../define-model.ts";

/** kie.ai's `google/nano-banana`: the seed model's shape under the Market's name. */
export const googleNanoBanana = defineImageModel({
  id: "google/nano-banana",
  description: "Nano Banana: text to image (the Market's name for it).",
  geminiModel: "gemini-nano-banana-2.1",
  promptMaxCharacters: 20_000,
  ratioFields: ["image_size", "aspect_ratio"],
  ratios: [...BASE_RATIOS, "auto"],
  defaultRatio: "1:1",
  images: null,
  resolutions: null,
  outputFormats: ["png", "jpeg"],
  defaultOutputFormat: "png",
  googleSearch: false,
  prices: { "1K": 4 },
});
