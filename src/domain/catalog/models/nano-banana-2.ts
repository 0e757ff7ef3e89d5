import { BASE_RATIOS, EXTREME_RATIOS } from "../aspect-ratios.ts";
import type { ImageModelSpec } from "../define-model.ts";

/** Nano Banana 2: 14 ratios (the extreme four at 1K), 1K to 4K, up to 14 reference images, search. */
export const nanoBanana2: ImageModelSpec = {
  id: "nano-banana-2",
  description: "Nano Banana 2: text to image or edit from up to 14 reference images, 14 ratios, 1K to 4K, optional Google Search grounding.",
  geminiModel: "gemini-nano-banana-2.1",
  promptMaxCharacters: 20_000,
  ratioFields: ["aspect_ratio"],
  ratios: [...BASE_RATIOS, ...EXTREME_RATIOS, "auto"],
  defaultRatio: "auto",
  images: { fields: ["image_input", "image_urls"], min: 0, max: 14 },
  resolutions: ["1K", "2K", "4K"],
  ratiosOnlyAt1K: EXTREME_RATIOS,
  outputFormats: ["png", "jpg"],
  defaultOutputFormat: "jpg",
  googleSearch: true,
  prices: { "1K": 8, "2K": 12, "4K": 18 },
};
