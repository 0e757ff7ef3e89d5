import { z } from "zod";
import {
  pixelSize,
  type AspectRatio,
  type FixedAspectRatio,
  type PixelSize,
  type Resolution,
} from "./aspect-ratios.ts";
import type { ImageTaskInput, ModelDefinition } from "./model.ts";

/** The longest URL an input image may have; longer ones are data smuggled into a URL. */
export const MAX_IMAGE_URL_LENGTH = 2_048;

type RatioField = "image_size" | "aspect_ratio";
type ImagesField = "image_urls" | "image_input";

/** One public model as its file states it; defineImageModel turns it into schema and behaviour. */
export interface ImageModelSpec {
  id: string;
  description: string;
  /** The upstream Gemini model id that serves it unless GEMINI_MODEL_MAP says otherwise. */
  geminiModel: string;
  promptMaxCharacters: number;
  /** The names the ratio field answers to; the first is the model's own, the rest aliases. */
  ratioFields: readonly [RatioField, ...RatioField[]];
  ratios: readonly AspectRatio[];
  defaultRatio: AspectRatio;
  /** The names the reference-images field answers to (first: the model's own), and the count allowed. */
  images: { fields: readonly [ImagesField, ...ImagesField[]]; min: number; max: number } | null;
  /** The resolutions a client may ask for; null when the model has one size (1K) and no such field. */
  resolutions: readonly [Resolution, ...Resolution[]] | null;
  /** Ratios that exist only at 1K (the extreme ones, on the Nano Banana 2 route). */
  ratiosOnlyAt1K?: readonly AspectRatio[];
  /** The output_format enum as the model's clients know it; jpg and jpeg are both accepted. */
  outputFormats: readonly ["png", "jpeg" | "jpg"];
  defaultOutputFormat: "png" | "jpeg" | "jpg";
  /** Whether `google_search` is a field of the model. */
  googleSearch: boolean;
  /** Credits one task costs per resolution (the default resolution's price if it has none). */
  prices: Readonly<Partial<Record<Resolution, number>>>;
}

function codePoints(value: string): number {
  let count = 0;
  for (const _ of value) count += 1;
  return count;
}

function promptField(max: number) {
  return z
    .string({ error: "input.prompt is required and must be a string" })
    .refine((value) => codePoints(value) >= 1 && value.trim() !== "", {
      error: "input.prompt must not be empty or only whitespace",
    })
    .refine((value) => codePoints(value) <= max, { error: `input.prompt must be at most ${max} characters` })
    .describe(`Text description of the image to generate; 1 to ${max} characters.`);
}

/** Why `value` is not an image URL a task can use, or null when it is one. */
export function imageUrlProblem(value: unknown): string | null {
  if (typeof value !== "string") return "must be a URL string";
  if (value.length > MAX_IMAGE_URL_LENGTH) return `must be at most ${MAX_IMAGE_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "must be an absolute http or https URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return "must be an http or https URL; upload a local file first with POST /api/file-stream-upload or /api/file-base64-upload";
  }
  if (url.username !== "" || url.password !== "") return "must not carry a user name or password";
  return null;
}

function imagesField(field: string, spec: NonNullable<ImageModelSpec["images"]>, modelId: string) {
  const range = spec.min === spec.max ? `${spec.max}` : `${spec.min} to ${spec.max}`;
  return z
    .array(z.unknown(), { error: `input.${field} must be an array of ${range} image URLs` })
    .superRefine((urls, context) => {
      if (urls.length < spec.min) {
        context.addIssue({ code: "custom", message: `input.${field} must hold at least ${spec.min} image URL${spec.min === 1 ? "" : "s"}` });
        return;
      }
      if (urls.length > spec.max) {
        context.addIssue({ code: "custom", message: `input.${field} holds ${urls.length} images; ${modelId} takes at most ${spec.max}` });
        return;
      }
      for (const [index, url] of urls.entries()) {
        const problem = imageUrlProblem(url);
        if (problem !== null) {
          context.addIssue({ code: "custom", message: `input.${field}[${index}] ${problem}` });
          return;
        }
      }
    })
    // The check above is the real one; this is what the JSON Schema shows of it.
    .meta({ items: { type: "string", format: "uri", maxLength: MAX_IMAGE_URL_LENGTH }, minItems: spec.min, maxItems: spec.max })
    .describe(
      `Reference images to edit or compose from, as http(s) URLs (an upload's downloadUrl works); ${range}, in the order the prompt refers to them.`,
    );
}

interface ParsedInput {
  prompt: string;
  output_format?: "png" | "jpeg" | "jpg";
  nsfw_checker?: boolean;
  resolution?: Resolution;
  google_search?: boolean;
  [field: string]: unknown;
}

/** Builds a model's schema, defaults, prices and sizes from its spec. */
export function defineImageModel(spec: ImageModelSpec): ModelDefinition {
  const ratioList = spec.ratios.join(", ");
  const [ratioField] = spec.ratioFields;
  const defaultResolution: Resolution = spec.resolutions?.[0] ?? "1K";
  const shape: Record<string, z.ZodType> = { prompt: promptField(spec.promptMaxCharacters) };
  for (const field of spec.ratioFields) {
    shape[field] = z
      .enum(spec.ratios as [AspectRatio, ...AspectRatio[]], { error: `input.${field} must be one of ${ratioList}` })
      .optional()
      .describe(
        field === ratioField
          ? `Output aspect ratio. One of ${ratioList}. Default ${spec.defaultRatio}.`
          : `Alias of ${ratioField}.`,
      );
  }
  if (spec.images !== null) {
    const [imagesName] = spec.images.fields;
    for (const field of spec.images.fields) {
      const schema = imagesField(field, spec.images, spec.id);
      // Optional each: the whole input's check below says when neither name was given.
      shape[field] = schema.optional().describe(
        field === imagesName ? (schema.description ?? "") : `Alias of ${imagesName}.`,
      );
    }
  }
  if (spec.resolutions !== null) {
    const list = spec.resolutions.join(", ");
    shape.resolution = z
      .enum(spec.resolutions, { error: `input.resolution must be one of ${list}` })
      .optional()
      .describe(`Output resolution. One of ${list}. Default ${defaultResolution}.`);
  }
  const formatList = spec.outputFormats.join(", ");
  const otherJpeg = spec.outputFormats[1] === "jpeg" ? "jpg" : "jpeg";
  shape.output_format = z
    .enum(["png", "jpeg", "jpg"], { error: `input.output_format must be one of ${formatList}` })
    .optional()
    .describe(`${formatList} (${otherJpeg} is accepted as ${spec.outputFormats[1]}). Default ${spec.defaultOutputFormat}.`);
  shape.nsfw_checker = z
    .boolean({ error: "input.nsfw_checker must be a boolean (true or false)" })
    .optional()
    .describe("true keeps the provider's safety checking on; false relaxes it as far as allowed. Default true.");
  if (spec.googleSearch) {
    shape.google_search = z
      .boolean({ error: "input.google_search must be a boolean (true or false)" })
      .optional()
      .describe("true grounds the image in Google web search results. Default false.");
  }
  const known = Object.keys(shape).join(", ");

  const onlyAt1K = new Set(spec.ratiosOnlyAt1K ?? []);
  const schema = z
    .strictObject(shape, {
      error: (issue) =>
        issue.code === "unrecognized_keys"
          ? `input.${issue.keys[0] ?? ""} is not a known field of ${spec.id}; the known fields are ${known}`
          : "input must be an object",
    })
    .superRefine((raw, context) => {
      const input = raw as ParsedInput;
      const ratios = spec.ratioFields.filter((field) => input[field] !== undefined);
      const [firstRatio] = ratios;
      if (firstRatio !== undefined && ratios.some((field) => input[field] !== input[firstRatio])) {
        context.addIssue({ code: "custom", message: `input.${ratios[1]} and input.${ratios[0]} disagree; give one of them, or the same value in both` });
        return;
      }
      const images = spec.images?.fields.filter((field) => input[field] !== undefined) ?? [];
      if (images.length > 1) {
        context.addIssue({ code: "custom", message: `input.${images[0]} and input.${images[1]} are the same field; give one of them` });
        return;
      }
      if (spec.images !== null && spec.images.min > 0 && images.length === 0) {
        const range = `${spec.images.min} to ${spec.images.max}`;
        context.addIssue({ code: "custom", message: `input.${spec.images.fields[0]} is required: give ${range} image URLs` });
        return;
      }
      const ratio = firstRatio === undefined ? spec.defaultRatio : (input[firstRatio] as AspectRatio);
      const resolution = input.resolution ?? defaultResolution;
      if (onlyAt1K.has(ratio) && resolution !== "1K") {
        context.addIssue({
          code: "custom",
          message: `input.${firstRatio ?? ratioField} ${ratio} is offered only at resolution 1K, not ${resolution}`,
        });
      }
    });

  function normalize(raw: unknown): ImageTaskInput {
    const input = schema.parse(raw) as ParsedInput;
    const ratioGiven = spec.ratioFields.map((field) => input[field]).find((value) => value !== undefined);
    const imagesGiven = spec.images?.fields.map((field) => input[field]).find((value) => value !== undefined);
    const format = input.output_format ?? spec.defaultOutputFormat;
    const imageUrls = (imagesGiven as string[] | undefined) ?? [];
    // Fields at their defaults stay out: every task's stored input is as short as it can be.
    return {
      prompt: input.prompt,
      aspectRatio: (ratioGiven as AspectRatio | undefined) ?? spec.defaultRatio,
      outputFormat: format === "png" ? "png" : "jpeg",
      safetyChecking: input.nsfw_checker ?? true,
      ...(spec.resolutions === null ? {} : { resolution: input.resolution ?? defaultResolution }),
      ...(imageUrls.length === 0 ? {} : { imageUrls }),
      ...(input.google_search === true ? { googleSearch: true } : {}),
    };
  }

  const resolutions: readonly [Resolution, ...Resolution[]] = spec.resolutions ?? ["1K"];
  const fixedRatios = spec.ratios.filter((ratio): ratio is FixedAspectRatio => ratio !== "auto");
  const resultSizes: Record<string, Record<string, PixelSize>> = {};
  for (const resolution of resolutions) {
    resultSizes[resolution] = Object.fromEntries(
      fixedRatios
        .filter((ratio) => resolution === "1K" || !onlyAt1K.has(ratio))
        .map((ratio) => [ratio, pixelSize(ratio, resolution)]),
    );
  }
  const defaults: Record<string, unknown> = { [ratioField]: spec.defaultRatio };
  if (spec.resolutions !== null) defaults.resolution = defaultResolution;
  defaults.output_format = spec.defaultOutputFormat;
  defaults.nsfw_checker = true;
  if (spec.googleSearch) defaults.google_search = false;

  return {
    id: spec.id,
    description: spec.description,
    inputSchema: schema,
    normalize,
    imagesField: spec.images?.fields[0] ?? null,
    resolutions,
    defaultPrices: spec.prices,
    defaultGeminiModel: spec.geminiModel,
    expectedSize(input) {
      // `auto` with reference images takes the shape of the inputs, which no table predicts.
      if (input.aspectRatio === "auto" && (input.imageUrls?.length ?? 0) > 0) return null;
      return pixelSize(input.aspectRatio, input.resolution ?? "1K");
    },
    describe: {
      defaults,
      limits: {
        promptMaxCharacters: spec.promptMaxCharacters,
        inputImages: spec.images === null ? null : { min: spec.images.min, max: spec.images.max },
        ratios: [...spec.ratios],
        resolutions: [...resolutions],
        ratiosOnlyAt1K: [...onlyAt1K],
      },
      resultSizes,
    },
  };
}

