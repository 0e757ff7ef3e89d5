import type { GenerateContentConfig } from "@google/genai";
import { BASE_RATIOS, EXTREME_RATIOS, type AspectRatio, type Resolution } from "../../domain/catalog/aspect-ratios.ts";
import type { ImageRequest } from "../image-provider.ts";

/** The variable that maps public models to upstream ones, several at once. */
export const MODEL_MAP_SETTING = "GEMINI_MODEL_MAP";

/** Which upstream model serves one public model, and the variable an operator changes to move it. */
export interface GeminiModelRoute {
  /** The upstream Gemini model id, e.g. gemini-3-pro-image. */
  upstream: string;
  /** The variable that names it (GEMINI_MODEL, GEMINI_FALLBACK_MODEL, GEMINI_MODEL_MAP), or would. */
  setting: string;
}

/** Every public model's upstream route, by public model id. */
export type GeminiModelMap = Readonly<Record<string, GeminiModelRoute>>;

/** What one family of upstream ids accepts in a generateContent request. */
export interface UpstreamCapabilities {
  /** The id prefix of the family, e.g. gemini-3-pro-image (which -preview ids share). */
  family: string;
  /** The ratios `imageConfig.aspectRatio` may name; another is left out (the model picks). */
  ratios: ReadonlySet<AspectRatio>;
  /** The `imageConfig.imageSize` values accepted; empty when the field must not be sent at all. */
  imageSizes: ReadonlySet<string>;
  /** Whether `tools: [{googleSearch: {}}]` grounds the image. */
  googleSearch: boolean;
  /** Whether the model thinks, so `thinkingConfig` may be sent; 2.5 Flash Image refuses it. */
  thinking: boolean;
}

const TEN = new Set<AspectRatio>(BASE_RATIOS);
const FOURTEEN = new Set<AspectRatio>([...BASE_RATIOS, ...EXTREME_RATIOS]);
const ONE_TO_FOUR_K = new Set<string>(["1K", "2K", "4K"] satisfies Resolution[]);

/**
 * Google's image models by id family, as its image-generation guide describes them (see
 * docs/gemini.md). Ids move every few months ("-preview" to GA to a successor) while a family's
 * request shape stays, so an id is matched by its prefix.
 */
const FAMILIES: readonly UpstreamCapabilities[] = [
  { family: "gemini-2.5-flash-image", ratios: TEN, imageSizes: new Set(), googleSearch: false, thinking: false },
  { family: "gemini-3-pro-image", ratios: TEN, imageSizes: ONE_TO_FOUR_K, googleSearch: true, thinking: true },
  {
    family: "gemini-3.1-flash-lite-image",
    ratios: FOURTEEN,
    imageSizes: new Set(["1K"]),
    googleSearch: false,
    thinking: true,
  },
  {
    family: "gemini-3.1-flash-image",
    ratios: FOURTEEN,
    imageSizes: new Set(["512", ...ONE_TO_FOUR_K]),
    googleSearch: true,
    thinking: true,
  },
  { family: "gemini-nano-banana-2.1", ratios: FOURTEEN, imageSizes: ONE_TO_FOUR_K, googleSearch: true, thinking: true },
];

/** The newest family: an id matching none is most likely a model newer than this table. */
const NEWEST = FAMILIES[FAMILIES.length - 1] as UpstreamCapabilities;

/** What the upstream model `id` accepts; an id of no known family is taken for the newest one. */
export function upstreamCapabilities(id: string): UpstreamCapabilities {
  const bare = id.startsWith("models/") ? id.slice("models/".length) : id;
  return FAMILIES.find((candidate) => bare.startsWith(candidate.family)) ?? NEWEST;
}

/**
 * The parts of generateContent's config that depend on the upstream model: only what it accepts
 * is sent, since Google answers 400 to a field a model does not know (imageSize to 2.5 Flash
 * Image). A ratio or size the model lacks is left out and the model picks; the result's size then
 * differs from the table, which the worker logs.
 */
export function generateConfigFor(
  request: Pick<ImageRequest, "aspectRatio" | "resolution" | "googleSearch">,
  capabilities: UpstreamCapabilities,
): Pick<GenerateContentConfig, "imageConfig" | "tools" | "thinkingConfig"> {
  const imageSize = request.resolution ?? "1K";
  const imageConfig = {
    ...(request.aspectRatio !== "auto" && capabilities.ratios.has(request.aspectRatio) ? { aspectRatio: request.aspectRatio } : {}),
    ...(capabilities.imageSizes.has(imageSize) ? { imageSize } : {}),
  };
  return {
    imageConfig: Object.keys(imageConfig).length > 0 ? imageConfig : undefined,
    tools: request.googleSearch === true && capabilities.googleSearch ? [{ googleSearch: {} }] : undefined,
    // Interim thought images are not billed, but sending them back costs time and bytes.
    thinkingConfig: capabilities.thinking ? { includeThoughts: false } : undefined,
  };
}
