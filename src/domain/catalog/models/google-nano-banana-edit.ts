import type { ImageModelSpec } from "../define-model.ts";
import { nanoBananaTextToImage } from "./nano-banana-text-to-image.ts";

/** kie.ai's `google/nano-banana-edit`: the seed model's fields, with 1 to 10 reference images. */
export const googleNanoBananaEdit: ImageModelSpec = {
  ...nanoBananaTextToImage,
  id: "google/nano-banana-edit",
  description: "Nano Banana: edit or compose from 1 to 10 reference images.",
  images: { fields: ["image_urls", "image_input"], min: 1, max: 10 },
};
