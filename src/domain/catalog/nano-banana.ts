import { z } from "zod";
import { ASPECT_RATIOS, PIXEL_SIZES, type AspectRatio, type OutputFormat } from "./aspect-ratios.ts";
import type { ModelDefinition } from "./model.ts";

const MAX_PROMPT_CODE_POINTS = 20_000;
const RATIO_LIST = ASPECT_RATIOS.join(", ");

function codePoints(value: string): number {
  let count = 0;
  for (const _ of value) count += 1;
  return count;
}

const ratio = (field: string) =>
  z.enum(ASPECT_RATIOS, { error: `input.${field} must be one of ${RATIO_LIST}` }).describe(
    `Output aspect ratio. One of ${RATIO_LIST}. Default 1:1.`,
  );

/** The input schema exactly as a client sends it (before defaults). */
export const nanoBananaInputSchema = z
  .strictObject(
    {
      prompt: z
        .string({ error: "input.prompt is required and must be a string" })
        .refine((value) => codePoints(value) >= 1 && value.trim() !== "", {
          error: "input.prompt must not be empty or only whitespace",
        })
        .refine((value) => codePoints(value) <= MAX_PROMPT_CODE_POINTS, {
          error: `input.prompt must be at most ${MAX_PROMPT_CODE_POINTS} characters`,
        })
        .describe("Text description of the image to generate; 1 to 20000 characters."),
      image_size: ratio("image_size").optional(),
      aspect_ratio: ratio("aspect_ratio").optional().describe("Alias of image_size."),
      output_format: z
        .enum(["png", "jpeg", "jpg"], { error: "input.output_format must be one of png, jpeg" })
        .optional()
        .describe("png or jpeg (jpg is accepted as jpeg). Default png."),
      nsfw_checker: z
        .boolean({ error: "input.nsfw_checker must be a boolean (true or false)" })
        .optional()
        .describe("true keeps the provider's safety checking on; false relaxes it as far as allowed. Default true."),
    },
    {
      error: (issue) =>
        issue.code === "unrecognized_keys"
          ? `input.${issue.keys[0] ?? ""} is not a known field; the known fields are prompt, image_size, aspect_ratio, output_format, nsfw_checker`
          : "input must be an object",
    },
  )
  .refine((input) => input.image_size === undefined || input.aspect_ratio === undefined || input.image_size === input.aspect_ratio, {
    error: "input.aspect_ratio and input.image_size disagree; give one of them, or the same value in both",
  });

/** What a worker needs to run a nano-banana task: the input with every default applied. */
export interface NanoBananaInput {
  prompt: string;
  aspectRatio: AspectRatio;
  outputFormat: OutputFormat;
  safetyChecking: boolean;
}

export const nanoBananaTextToImage: ModelDefinition<NanoBananaInput> = {
  id: "nano-banana-text-to-image",
  description: "Google Gemini image generation (Nano Banana): text to image.",
  defaultPrice: 4,
  inputSchema: nanoBananaInputSchema,
  normalize(raw) {
    const input = nanoBananaInputSchema.parse(raw);
    return {
      prompt: input.prompt,
      aspectRatio: input.image_size ?? input.aspect_ratio ?? "1:1",
      outputFormat: input.output_format === "png" || input.output_format === undefined ? "png" : "jpeg",
      safetyChecking: input.nsfw_checker ?? true,
    };
  },
  expectedSize: (input) => PIXEL_SIZES[input.aspectRatio],
  describe: {
    defaults: { image_size: "1:1", output_format: "png", nsfw_checker: true },
    limits: { promptMaxCharacters: MAX_PROMPT_CODE_POINTS, inputImages: null },
    resultSizes: PIXEL_SIZES,
  },
};
