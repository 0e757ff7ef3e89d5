import type { ImageModelSpec } from "../define-model.ts";
import { googleNanoBanana } from "./google-nano-banana.ts";
import { googleNanoBananaEdit } from "./google-nano-banana-edit.ts";
import { nanoBanana2 } from "./nano-banana-2.ts";
import { nanoBanana21 } from "./nano-banana-2-1.ts";
import { nanoBanana2Lite } from "./nano-banana-2-lite.ts";
import { nanoBananaPro } from "./nano-banana-pro.ts";
import { nanoBananaTextToImage } from "./nano-banana-text-to-image.ts";

/**
 * Every public model as its file states it, in the order GET /api/v1/models and the docs list
 * them: plain data, so configuration can check model ids, resolutions and upstream defaults
 * without loading the schemas (index.ts builds those).
 */
export const MODEL_SPECS: readonly ImageModelSpec[] = [
  nanoBananaTextToImage,
  googleNanoBanana,
  googleNanoBananaEdit,
  nanoBananaPro,
  nanoBanana2,
  nanoBanana2Lite,
  nanoBanana21,
];

/** The resolutions a model's tasks may ask for; a model without the field makes 1K. */
export function resolutionsOf(spec: ImageModelSpec): readonly string[] {
  return spec.resolutions ?? ["1K"];
}
