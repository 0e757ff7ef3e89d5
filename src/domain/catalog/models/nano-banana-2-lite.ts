import { BASE_RATIOS, EXTREME_RATIOS } from "../aspect-ratios.ts";
import type { ImageModelSpec } from "../define-model.ts";

/** Nano Banana 2 Lite (Gemini 3.1 Flash Lite Image): 1K only, 14 ratios, up to 10 reference images. */
export const nanoBanana2Lite: ImageModelSpec = {
  id: "nano-banana-2-lite",
  description: "Nano Banana 2 Lite: fast 1K images from text or up to 10 reference images, 14 ratios.",
  geminiModel: "gemini-3.1-flash-lite-image",
  promptMaxCharacters: 20_000,
  ratioFields: ["aspect_ratio"],
  ratios: [...BASE_RATIOS, ...EXTREME_RATIOS, "auto"],
  defaultRatio: "auto",
  images: { fields: ["image_urls", "image_input"], min: 0, max: 10 },
  resolutions: null,
  outputFormats: ["png", "jpg"],
  defaultOutputFormat: "png",
  googleSearch: false,
  prices: { "1K": 4 },
};
