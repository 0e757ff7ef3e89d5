import type { ImageModelSpec } from "../define-model.ts";
import { nanoBananaTextToImage } from "./nano-banana-text-to-image.ts";

/** kie.ai's `google/nano-banana`: the seed model's shape under the Market's name. */
export const googleNanoBanana: ImageModelSpec = {
  ...nanoBananaTextToImage,
  id: "google/nano-banana",
  description: "Nano Banana: text to image (the Market's name for it).",
};
