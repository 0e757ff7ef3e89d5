import { BASE_RATIOS, EXTREME_RATIOS } from "../aspect-ratios.ts";
import type { ImageModelSpec } from "../define-model.ts";

/** Nano Banana 2.1: Google's recommended image model since 2026-10; 1K to 4K, up to 10 reference images. */
export const nanoBanana21: ImageModelSpec = {
  id: "nano-banana-2-1",
  description: "Nano Banana 2.1: text to image or edit from up to 10 reference images, 14 ratios, 1K to 4K.",
  geminiModel: "gemini-nano-banana-2.1",
  promptMaxCharacters: 20_000,
  ratioFields: ["aspect_ratio"],
  ratios: [...BASE_RATIOS, ...EXTREME_RATIOS, "auto"],
  defaultRatio: "auto",
  images: { fields: ["image_input", "image_urls"], min: 0, max: 10 },
  resolutions: ["1K", "2K", "4K"],
  ratiosOnlyAt1K: EXTREME_RATIOS,
  outputFormats: ["png", "jpg"],
  defaultOutputFormat: "jpg",
  googleSearch: false,
  prices: { "1K": 4, "2K": 6, "4K": 9 },
};
