import { BASE_RATIOS, type AspectRatio } from "../../domain/catalog/aspect-ratios.ts";
import type { ImageRequest } from "../image-provider.ts";
import { imageReference } from "../upstream-http.ts";

/**
 * Replicate's model for each public model, when the upstream's configuration names none. One
 * model takes both text-only and reference-image requests (`image_input`), so the edit model
 * maps to the plain one; the Nano Banana 2 variants (Lite, 2.1) map to Nano Banana 2.
 */
export const REPLICATE_DEFAULT_MODELS: Readonly<Record<string, string>> = {
  "nano-banana-text-to-image": "google/nano-banana",
  "google/nano-banana": "google/nano-banana",
  "google/nano-banana-edit": "google/nano-banana",
  "nano-banana-pro": "google/nano-banana-pro",
  "nano-banana-2": "google/nano-banana-2",
  "nano-banana-2-lite": "google/nano-banana-2",
  "nano-banana-2-1": "google/nano-banana-2",
};

/** What one Replicate model's input schema accepts. */
interface ReplicateCapabilities {
  /** The fixed ratios `aspect_ratio` may name, besides "match_input_image". */
  ratios: ReadonlySet<string>;
  /** Whether `resolution` exists; Pro's defaults to 2K, so it is always sent where it exists. */
  resolution: boolean;
  /** Whether `safety_filter_level` exists (block_low_and_above … block_only_high). */
  safetyFilter: boolean;
}

const TEN: ReadonlySet<string> = new Set(BASE_RATIOS);

/** By model id (`owner/name`, without a `:version`), as each model's API page lists its input schema. */
const MODELS: Readonly<Record<string, ReplicateCapabilities>> = {
  "google/nano-banana": { ratios: TEN, resolution: false, safetyFilter: false },
  "google/nano-banana-pro": { ratios: TEN, resolution: true, safetyFilter: true },
  "google/nano-banana-2": { ratios: TEN, resolution: true, safetyFilter: false },
};

/** A model of no known id is most likely a newer one, shaped like the newest. */
const NEWEST = MODELS["google/nano-banana-2"] as ReplicateCapabilities;

export function replicateCapabilities(model: string): ReplicateCapabilities {
  return MODELS[model.split(":")[0] ?? model] ?? NEWEST;
}

/** `owner/name` split for the URL, or null when the id is not of that shape. */
export function replicateModelPath(model: string): { owner: string; name: string } | null {
  const match = /^([A-Za-z0-9][\w.-]*)\/([A-Za-z0-9][\w.-]*)$/.exec(model);
  if (match === null) return null;
  return { owner: match[1] as string, name: match[2] as string };
}

/** The `input` of a create-prediction call. */
export function replicateInput(request: ImageRequest, model: string): Record<string, unknown> {
  const capabilities = replicateCapabilities(model);
  const images = request.images ?? [];
  const input: Record<string, unknown> = {
    prompt: request.prompt,
    // Lossless; the worker encodes the format the client asked for.
    output_format: "png",
  };
  if (images.length > 0) input.image_input = images.map(imageReference);
  const ratio = aspectRatioFor(request.aspectRatio, images.length > 0, capabilities);
  if (ratio !== null) input.aspect_ratio = ratio;
  if (capabilities.resolution) input.resolution = request.resolution ?? "1K";
  // block_only_high is the most permissive level the model offers.
  if (capabilities.safetyFilter && !request.safetyChecking) input.safety_filter_level = "block_only_high";
  return input;
}

function aspectRatioFor(ratio: AspectRatio, hasImages: boolean, capabilities: ReplicateCapabilities): string | null {
  // "auto" takes the shape of the inputs; without any, the model's default decides.
  if (ratio === "auto") return hasImages ? "match_input_image" : null;
  return capabilities.ratios.has(ratio) ? ratio : null;
}
