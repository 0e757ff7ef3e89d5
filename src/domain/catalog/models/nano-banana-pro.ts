import { BASE_RATIOS } from "../aspect-ratios.ts";
import type { ImageModelSpec } from "../define-model.ts";

/** Nano Banana Pro (Gemini 3 Pro Image): 1K to 4K, up to 8 reference images. */
export const nanoBananaPro: ImageModelSpec = {
  id: "nano-banana-pro",
  description: "Nano Banana Pro: text to image or edit from up to 8 reference images, at 1K, 2K or 4K.",
  geminiModel: "gemini-3-pro-image",
  promptMaxCharacters: 10_000,
  ratioFields: ["aspect_ratio"],
  ratios: [...BASE_RATIOS, "auto"],
  defaultRatio: "1:1",
  images: { fields: ["image_input", "image_urls"], min: 0, max: 8 },
  resolutions: ["1K", "2K", "4K"],
  outputFormats: ["png", "jpg"],
  defaultOutputFormat: "png",
  googleSearch: false,
  prices: { "1K": 18, "2K": 18, "4K": 24 },
};
