import { defineImageModel } from "../define-model.ts";
import type { ModelDefinition } from "../model.ts";
import { MODEL_SPECS } from "./specs.ts";

/** Every public model with its schema, defaults, limits, prices and sizes, in the specs' order. */
export const MODELS: readonly ModelDefinition[] = MODEL_SPECS.map(defineImageModel);

/** The seed model, the one of the original vendor document. */
export const nanoBananaTextToImage: ModelDefinition = MODELS[0] as ModelDefinition;
