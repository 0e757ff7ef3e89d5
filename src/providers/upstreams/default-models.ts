import { MODEL_SPECS } from "../../domain/catalog/models/specs.ts";
import type { UpstreamKind } from "./kinds.ts";

/**
 * The upstream model id of each public model, for an upstream of UPSTREAMS_FILE that lists no
 * `models`. Gemini's are the catalog's defaults. Each other kind's adapter fills its own map here;
 * until it does, an upstream of that kind must list its models.
 */
export const DEFAULT_UPSTREAM_MODELS: Readonly<Record<UpstreamKind, Readonly<Record<string, string>>>> = {
  gemini: Object.fromEntries(MODEL_SPECS.map((model) => [model.id, model.geminiModel])),
  vertex: {},
  openrouter: {},
  fal: {},
  replicate: {},
};
