import type { z } from "zod";
import type { AspectRatio, OutputFormat, PixelSize, Resolution } from "./aspect-ratios.ts";

/** The fields every image model's normalized input shares; the worker reads these. */
export interface ImageTaskInput {
  prompt: string;
  aspectRatio: AspectRatio;
  outputFormat: OutputFormat;
  safetyChecking: boolean;
  /** Absent in tasks stored before models had resolutions: "1K". */
  resolution?: Resolution;
  /** Reference image URLs in the client's order; absent or empty for text to image. */
  imageUrls?: string[];
  /** Web search grounding, for the models that offer it. */
  googleSearch?: boolean;
}

export interface ModelDefinition {
  id: string;
  description: string;
  /** Validates the client's `input` object; its messages are the 422 messages. */
  inputSchema: z.ZodType;
  /** Applies defaults to an input that passed `inputSchema`. */
  normalize(raw: unknown): ImageTaskInput;
  /** The name of the model's reference-images field (`image_urls`, `image_input`), or null without one. */
  imagesField: string | null;
  /** The resolutions the model produces; the first is its default. */
  resolutions: readonly [Resolution, ...Resolution[]];
  /** Credits one task costs per resolution unless configuration says otherwise. */
  defaultPrices: Readonly<Partial<Record<Resolution, number>>>;
  /** The upstream Gemini model id that serves the model unless configuration maps it elsewhere. */
  defaultGeminiModel: string;
  /** The pixel size the result must have, or null when no table predicts it (`auto` with inputs). */
  expectedSize(input: ImageTaskInput): PixelSize | null;
  /** What a client may rely on, as GET /api/v1/models lists it. */
  describe: ModelDescription;
}

/** A model's published facts beside its schema: the defaults applied, its limits, its result sizes. */
export interface ModelDescription {
  /** The value each optional input field takes when it is not sent. */
  defaults: Readonly<Record<string, unknown>>;
  limits: {
    /** Unicode code points of input.prompt, at most. */
    promptMaxCharacters: number;
    /** Reference images accepted, or null for a text-only model. */
    inputImages: { min: number; max: number } | null;
    ratios: AspectRatio[];
    resolutions: Resolution[];
    /** Ratios offered only at resolution 1K. */
    ratiosOnlyAt1K: AspectRatio[];
  };
  /** Pixel size of the result per resolution and aspect ratio (`auto`: square without inputs). */
  resultSizes: Readonly<Record<string, Readonly<Record<string, PixelSize>>>>;
}
