/** native_finish_reasons by which Google's safety checking refused the prompt or the image. */
const SAFETY_NATIVE_REASONS: ReadonlySet<string> = new Set([
  "SAFETY",
  "IMAGE_SAFETY",
  "PROHIBITED_CONTENT",
  "IMAGE_PROHIBITED_CONTENT",
  "BLOCKLIST",
  "SPII",
]);

/** OpenRouter's error object: `{code, message, metadata?}`; code is the HTTP status it stands for. */
export interface OpenRouterError {
  code: number | null;
  message: string | null;
  metadata: Record<string, unknown> | null;
}

export type OpenRouterOutcome =
  | { kind: "image"; bytes: Buffer; declaredMimeType: string | null }
  /** Safety checking refused the prompt or the image; `reason` is for the log. */
  | { kind: "refused"; reason: string }
  /** An answer without an image; `reason` is for the log. */
  | { kind: "no-image"; reason: string }
  /** A 200 carrying an error object (the model failed after OpenRouter accepted the request). */
  | { kind: "error"; error: OpenRouterError };

/**
 * Reads a 200 answer of chat completions with image output: the image is the first of
 * `choices[0].message.images`, a data: URL. A refusal shows as finish_reason content_filter or a
 * safety native_finish_reason (Google's finishReason, passed through) with no image.
 */
export function readOpenRouterResponse(body: unknown): OpenRouterOutcome {
  const topError = errorOf(field(body, "error"));
  if (topError !== null) return { kind: "error", error: topError };
  const choices = field(body, "choices");
  const choice: unknown = Array.isArray(choices) ? choices[0] : undefined;
  if (choice === undefined) return { kind: "no-image", reason: "no choices" };
  const choiceError = errorOf(field(choice, "error"));
  if (choiceError !== null) return { kind: "error", error: choiceError };

  const finishReason = stringOf(field(choice, "finish_reason"));
  const nativeReason = stringOf(field(choice, "native_finish_reason"));
  const images = field(field(choice, "message"), "images");
  const url = Array.isArray(images)
    ? images.map((image) => stringOf(field(field(image, "image_url"), "url"))).find((found) => found !== null && found !== "")
    : undefined;
  if (url !== undefined && url !== null) {
    const decoded = decodeDataUrl(url);
    if (decoded !== null) return { kind: "image", ...decoded };
    return { kind: "no-image", reason: `an image that is not a base64 data: URL (${url.slice(0, 40)})` };
  }
  const reasons = `finish_reason ${finishReason ?? "none"}, native_finish_reason ${nativeReason ?? "none"}`;
  if (finishReason === "content_filter" || (nativeReason !== null && SAFETY_NATIVE_REASONS.has(nativeReason))) {
    return { kind: "refused", reason: reasons };
  }
  return { kind: "no-image", reason: `${reasons}; no image` };
}

/** The error object of an error answer's body, or null when it has none (a proxy's HTML page). */
export function parseOpenRouterError(text: string): OpenRouterError | null {
  try {
    return errorOf(field(JSON.parse(text), "error"));
  } catch {
    return null;
  }
}

/** Whether an error's metadata is OpenRouter's moderation verdict (`reasons`, `flagged_input`). */
export function isModerationError(error: OpenRouterError | null): boolean {
  const metadata = error?.metadata;
  return metadata !== null && metadata !== undefined && (Array.isArray(metadata["reasons"]) || "flagged_input" in metadata);
}

function decodeDataUrl(url: string): { bytes: Buffer; declaredMimeType: string | null } | null {
  const match = /^data:([^;,]*)(?:;[^,]*)?;base64,(.*)$/s.exec(url);
  if (match === null || match[2] === undefined || match[2] === "") return null;
  const bytes = Buffer.from(match[2], "base64");
  return bytes.length === 0 ? null : { bytes, declaredMimeType: match[1] === "" || match[1] === undefined ? null : match[1] };
}

function errorOf(value: unknown): OpenRouterError | null {
  if (typeof value !== "object" || value === null) return null;
  const code = field(value, "code");
  const metadata = field(value, "metadata");
  return {
    code: typeof code === "number" ? code : typeof code === "string" && /^\d+$/.test(code) ? Number(code) : null,
    message: stringOf(field(value, "message")),
    metadata: typeof metadata === "object" && metadata !== null && !Array.isArray(metadata) ? (metadata as Record<string, unknown>) : null,
  };
}

function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function stringOf(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}
