import type { GenerateContentResponse } from "@google/genai";

/** finishReasons by which the upstream's safety checking refused the prompt or the image. */
const SAFETY_FINISH_REASONS: ReadonlySet<string> = new Set([
  "SAFETY",
  "IMAGE_SAFETY",
  "PROHIBITED_CONTENT",
  "IMAGE_PROHIBITED_CONTENT",
  "BLOCKLIST",
  "SPII",
]);

export type GeminiResponseOutcome =
  | { kind: "image"; bytes: Buffer; declaredMimeType: string | null }
  /** Safety checking refused the prompt or the image; `reason` is the upstream's, for the log. */
  | { kind: "refused"; reason: string }
  /** An answer without an image (NO_IMAGE, text only, no parts); `reason` is for the log. */
  | { kind: "no-image"; reason: string };

/**
 * Reads a 200 answer. The SDK does not throw for refusals or missing images, so this is where they
 * are told apart. Pro models send interim "thought" images before the final one, and image parts
 * can come with text parts in any order, so the answer is the last non-thought image part.
 */
export function readGeminiResponse(response: GenerateContentResponse): GeminiResponseOutcome {
  const blockReason = response.promptFeedback?.blockReason;
  if (blockReason !== undefined) {
    return { kind: "refused", reason: `promptFeedback.blockReason ${blockReason}` };
  }
  const candidates = response.candidates ?? [];
  const safetyReason = candidates
    .map((candidate) => candidate.finishReason)
    .find((finishReason) => finishReason !== undefined && SAFETY_FINISH_REASONS.has(finishReason));
  if (safetyReason !== undefined) {
    return { kind: "refused", reason: `finishReason ${safetyReason}` };
  }

  const parts = candidates.flatMap((candidate) => candidate.content?.parts ?? []);
  const finalImage = parts
    .filter((part) => part.thought !== true)
    .map((part) => part.inlineData)
    .filter((data) => data?.data !== undefined && data.data.length > 0)
    .filter((data) => data?.mimeType === undefined || data.mimeType.startsWith("image/"))
    .at(-1);
  if (finalImage?.data !== undefined) {
    return {
      kind: "image",
      bytes: Buffer.from(finalImage.data, "base64"),
      declaredMimeType: finalImage.mimeType ?? null,
    };
  }

  const finishReasons = candidates.map((candidate) => candidate.finishReason ?? "none").join(",");
  const textParts = parts.filter((part) => typeof part.text === "string" && part.thought !== true).length;
  const shape =
    candidates.length === 0 ? "no candidates" : parts.length === 0 ? "no parts" : `${textParts} text part(s), no image`;
  return { kind: "no-image", reason: `finishReason ${finishReasons || "none"}; ${shape}` };
}
