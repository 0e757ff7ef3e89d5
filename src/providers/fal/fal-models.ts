import { BASE_RATIOS, type AspectRatio } from "../../domain/catalog/aspect-ratios.ts";
import type { ImageRequest } from "../image-provider.ts";
import { imageReference } from "../upstream-http.ts";

/**
 * fal's endpoint for each public model, when the upstream's configuration names none. The Nano
 * Banana 2 variants (Lite, 2.1) have no endpoint of their own on fal: Nano Banana 2 serves them.
 */
export const FAL_DEFAULT_MODELS: Readonly<Record<string, string>> = {
  "nano-banana-text-to-image": "fal-ai/nano-banana",
  "google/nano-banana": "fal-ai/nano-banana",
  "google/nano-banana-edit": "fal-ai/nano-banana/edit",
  "nano-banana-pro": "fal-ai/nano-banana-pro",
  "nano-banana-2": "fal-ai/nano-banana-2",
  "nano-banana-2-lite": "fal-ai/nano-banana-2",
  "nano-banana-2-1": "fal-ai/nano-banana-2",
};

/** The suffix of the endpoint that edits or composes from reference images. */
const EDIT_SUFFIX = "/edit";

/** What one fal endpoint family accepts, as its API page lists it. */
interface FalCapabilities {
  /** The fixed ratios `aspect_ratio` may name; another is left out and the model picks. */
  ratios: ReadonlySet<string>;
  /** Whether `aspect_ratio: "auto"` is accepted. */
  auto: boolean;
  /** Whether `resolution` ("1K", "2K", "4K") is accepted; unknown fields are refused with a 422. */
  resolution: boolean;
}

const TEN: ReadonlySet<string> = new Set(BASE_RATIOS);

/**
 * By the endpoint id without `/edit`. fal's pages list the ten base ratios for every family (the
 * extreme ones of Gemini 3.1 Flash Image are not offered there), `auto` for Pro and 2, and
 * `resolution` for Pro and 2 only.
 */
const FAMILIES: Readonly<Record<string, FalCapabilities>> = {
  "fal-ai/nano-banana": { ratios: TEN, auto: false, resolution: false },
  "fal-ai/nano-banana-pro": { ratios: TEN, auto: true, resolution: true },
  "fal-ai/nano-banana-2": { ratios: TEN, auto: true, resolution: true },
};

/** An endpoint of no known family is most likely a newer model, shaped like the newest one. */
const NEWEST = FAMILIES["fal-ai/nano-banana-2"] as FalCapabilities;

export function falCapabilities(endpoint: string): FalCapabilities {
  const base = endpoint.endsWith(EDIT_SUFFIX) ? endpoint.slice(0, -EDIT_SUFFIX.length) : endpoint;
  return FAMILIES[base] ?? NEWEST;
}

/**
 * The endpoint a request goes to: fal splits each model in a text-to-image endpoint and an
 * `/edit` one that takes `image_urls`, so a request with reference images goes to the latter.
 */
export function falEndpoint(model: string, hasImages: boolean): string {
  if (hasImages && !model.endsWith(EDIT_SUFFIX)) return `${model}${EDIT_SUFFIX}`;
  return model;
}

/** The JSON input of a queue submit. */
export function falInput(request: ImageRequest, endpoint: string): Record<string, unknown> {
  const capabilities = falCapabilities(endpoint);
  const images = request.images ?? [];
  const input: Record<string, unknown> = {
    prompt: request.prompt,
    num_images: 1,
    // Lossless; the worker encodes the format the client asked for.
    output_format: "png",
  };
  const ratio = aspectRatioFor(request.aspectRatio, capabilities);
  if (ratio !== null) input.aspect_ratio = ratio;
  if (capabilities.resolution) input.resolution = request.resolution ?? "1K";
  if (images.length > 0) input.image_urls = images.map(imageReference);
  // 1 is the strictest and 6 the most permissive; unset keeps fal's default (4).
  if (!request.safetyChecking) input.safety_tolerance = "6";
  return input;
}

function aspectRatioFor(ratio: AspectRatio, capabilities: FalCapabilities): string | null {
  if (ratio === "auto") return capabilities.auto ? "auto" : null;
  return capabilities.ratios.has(ratio) ? ratio : null;
}
