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
}
