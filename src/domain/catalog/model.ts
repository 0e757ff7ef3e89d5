import type { z } from "zod";
import type { AspectRatio, OutputFormat, PixelSize } from "./aspect-ratios.ts";

/** The fields every image model's normalized input shares; the worker reads these. */
export interface ImageTaskInput {
  prompt: string;
  aspectRatio: AspectRatio;
  outputFormat: OutputFormat;
  safetyChecking: boolean;
}

export interface ModelDefinition<Input extends ImageTaskInput = ImageTaskInput> {
  id: string;
  description: string;
  /** Credits one task costs unless configuration says otherwise. */
  defaultPrice: number;
  /** Validates the client's `input` object; its messages are the 422 messages. */
  inputSchema: z.ZodType;
  /** Applies defaults to an input that passed `inputSchema`. */
  normalize(raw: unknown): Input;
  /** The pixel size the result must have. */
  expectedSize(input: Input): PixelSize;
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
  };
  /** Pixel size of the result per aspect ratio. */
  resultSizes: Readonly<Record<string, PixelSize>>;
}
