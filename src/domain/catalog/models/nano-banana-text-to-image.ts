import { BASE_RATIOS } from "../aspect-ratios.ts";
import type { ImageModelSpec } from "../define-model.ts";

/** The seed model: text to image, the contract of the original vendor document. */
export const nanoBananaTextToImage: ImageModelSpec = {
  id: "nano-banana-text-to-image",
  description: "Nano Banana: text to image.",
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
};
