import { MODEL_SPECS } from "../../domain/catalog/models/specs.ts";
import { FAL_DEFAULT_MODELS } from "../fal/fal-models.ts";
import { REPLICATE_DEFAULT_MODELS } from "../replicate/replicate-models.ts";
import type { UpstreamKind } from "./kinds.ts";

/** Google's model id of each public model: the catalog's defaults, which the Gemini API and Vertex AI share. */
const GOOGLE_MODELS: Readonly<Record<string, string>> = Object.fromEntries(MODEL_SPECS.map((model) => [model.id, model.geminiModel]));

/**
 * The upstream model id of each public model, for an upstream of UPSTREAMS_FILE that lists no
 * `models`: Google's ids on the Gemini API and Vertex AI, google/<Google's id> on OpenRouter, and
 * the resellers' own endpoints and model pages on fal and Replicate.
 */
export const DEFAULT_UPSTREAM_MODELS: Readonly<Record<UpstreamKind, Readonly<Record<string, string>>>> = {
  gemini: GOOGLE_MODELS,
  vertex: GOOGLE_MODELS,
  openrouter: Object.fromEntries(Object.entries(GOOGLE_MODELS).map(([model, upstream]) => [model, `google/${upstream}`])),
  fal: FAL_DEFAULT_MODELS,
  replicate: REPLICATE_DEFAULT_MODELS,
};

/** The models an upstream serves: the ones it lists, or every one its kind has a default id for. */
export function modelsOrDefaults(kind: UpstreamKind, models: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  return Object.keys(models).length > 0 ? models : DEFAULT_UPSTREAM_MODELS[kind];
}
