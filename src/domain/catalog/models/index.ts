import type { ModelDefinition } from "../model.ts";
import { googleNanoBanana } from "./google-nano-banana.ts";
import { googleNanoBananaEdit } from "./google-nano-banana-edit.ts";
import { nanoBanana2 } from "./nano-banana-2.ts";
import { nanoBanana21 } from "./nano-banana-2-1.ts";
import { nanoBanana2Lite } from "./nano-banana-2-lite.ts";
import { nanoBananaPro } from "./nano-banana-pro.ts";
import { nanoBananaTextToImage } from "./nano-banana-text-to-image.ts";

/** Every public model, in the order GET /api/v1/models and the docs list them. */
export const MODELS: readonly ModelDefinition[] = [
  nanoBananaTextToImage,
  googleNanoBanana,
  googleNanoBananaEdit,
  nanoBananaPro,
  nanoBanana2,
  nanoBanana2Lite,
  nanoBanana21,
];

export { nanoBananaTextToImage };
