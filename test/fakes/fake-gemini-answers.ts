/**
 * What the fake Gemini server can be told to answer, and the bodies it answers with. The bodies
 * follow responses recorded from the Gemini Developer API (see shared/reference/gemini-image-api.md).
 */

interface AnswerTiming {
  /** Extra latency for this answer, on top of the server's own. */
  delayMs?: number;
}

export type FakeGeminiAnswer = AnswerTiming &
  (
    | { kind: "image" }
    /** Interim thought images (Pro models) before the final image. */
    | { kind: "thought-images"; thoughts?: number }
    /** JPEG bytes declared as image/png, as the upstream has been seen to send. */
    | { kind: "jpeg-as-png" }
    /** HTTP 200 without candidates: promptFeedback.blockReason. */
    | { kind: "blocked"; blockReason?: string }
    /** HTTP 200, a candidate with this finishReason and no image (IMAGE_SAFETY, NO_IMAGE, ...). */
    | { kind: "finish"; finishReason: string; text?: string }
    /** HTTP 200, finishReason STOP, a text part only ("I can't ..."). */
    | { kind: "text-only"; text?: string }
    /** HTTP 200, finishReason STOP, no parts at all. */
    | { kind: "empty-parts" }
    /** HTTP 429 RESOURCE_EXHAUSTED, with RetryInfo unless retryDelay is null. */
    | { kind: "rate-limited"; retryDelay?: string | null }
    /** Any HTTP error status with Google's JSON error body. */
    | { kind: "status"; status: number; message?: string; details?: unknown[] }
    /** HTTP 400 INVALID_ARGUMENT with details[].reason API_KEY_INVALID. */
    | { kind: "invalid-key" }
    /** Never answers (until the client gives up or the server closes). */
    | { kind: "hang" }
    /** HTTP 200 labelled JSON whose body is cut short. */
    | { kind: "malformed-json" }
  );

export interface FakeResponse {
  status: number;
  body: unknown;
}

const STATUS_NAMES: Readonly<Record<number, string>> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  408: "DEADLINE_EXCEEDED",
  409: "ABORTED",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  501: "NOT_IMPLEMENTED",
  502: "UNAVAILABLE",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

const STATUS_MESSAGES: Readonly<Record<number, string>> = {
  400: "Request contains an invalid argument.",
  401: "Request had invalid authentication credentials.",
  403: "The caller does not have permission",
  404: "Requested entity was not found.",
  429:
    "You exceeded your current quota, please check your plan and billing details. For more information on this " +
    "error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
  500:
    "An internal error has occurred. Please retry or report in " +
    "https://developers.generativeai.google/guide/troubleshooting",
  503: "The model is overloaded. Please try again later.",
  504: "Deadline expired before operation could complete.",
};

/** Google's error envelope: `{"error":{"code","message","status","details"}}`. */
export function errorBody(status: number, message?: string, details?: unknown[]): FakeResponse {
  const error: Record<string, unknown> = {
    code: status,
    message: message ?? STATUS_MESSAGES[status] ?? "Unknown error.",
    status: STATUS_NAMES[status] ?? (status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION"),
  };
  if (details !== undefined) {
    error["details"] = details;
  }
  return { status, body: { error } };
}

export function rateLimitedBody(model: string, retryDelay: string | null): FakeResponse {
  const details: unknown[] = [
    {
      "@type": "type.googleapis.com/google.rpc.QuotaFailure",
      violations: [
        {
          quotaMetric: "generativelanguage.googleapis.com/generate_content_free_tier_requests",
          quotaId: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
          quotaDimensions: { location: "global", model },
          quotaValue: "10",
        },
      ],
    },
    {
      "@type": "type.googleapis.com/google.rpc.Help",
      links: [{ description: "Learn more about Gemini API quotas", url: "https://ai.google.dev/gemini-api/docs/rate-limits" }],
    },
  ];
  if (retryDelay !== null) {
    details.push({ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay });
  }
  return errorBody(429, undefined, details);
}

export function invalidKeyBody(): FakeResponse {
  const message = "API key not valid. Please pass a valid API key.";
  return errorBody(400, message, [
    {
      "@type": "type.googleapis.com/google.rpc.ErrorInfo",
      reason: "API_KEY_INVALID",
      domain: "googleapis.com",
      metadata: { service: "generativelanguage.googleapis.com" },
    },
    { "@type": "type.googleapis.com/google.rpc.LocalizedMessage", locale: "en-US", message },
  ]);
}

export function missingKeyBody(): FakeResponse {
  return errorBody(
    403,
    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or " +
      "other form of API consumer identity to call this API.",
  );
}

export interface ContentPart {
  text?: string;
  thought?: boolean;
  inlineData?: { mimeType: string; data: string };
}

/** A 200 answer with one candidate, as the upstream wraps every generation. */
export function candidateBody(
  model: string,
  promptTokens: number,
  candidate: { parts: ContentPart[] | null; finishReason: string },
): FakeResponse {
  const imageParts = (candidate.parts ?? []).filter((part) => part.inlineData !== undefined && part.thought !== true);
  const candidatesTokenCount = imageParts.length * 1290;
  const entry: Record<string, unknown> = { finishReason: candidate.finishReason, index: 0 };
  if (candidate.parts !== null) {
    entry["content"] = candidate.parts.length > 0 ? { role: "model", parts: candidate.parts } : { role: "model" };
  }
  return {
    status: 200,
    body: {
      candidates: [entry],
      modelVersion: model,
      responseId: responseId(),
      usageMetadata: {
        promptTokenCount: promptTokens,
        candidatesTokenCount,
        totalTokenCount: promptTokens + candidatesTokenCount,
        promptTokensDetails: [{ modality: "TEXT", tokenCount: promptTokens }],
        ...(candidatesTokenCount > 0
          ? { candidatesTokensDetails: [{ modality: "IMAGE", tokenCount: candidatesTokenCount }] }
          : {}),
      },
    },
  };
}

export function blockedBody(model: string, promptTokens: number, blockReason: string): FakeResponse {
  return {
    status: 200,
    body: {
      promptFeedback: { blockReason },
      usageMetadata: { promptTokenCount: promptTokens, totalTokenCount: promptTokens },
      modelVersion: model,
      responseId: responseId(),
    },
  };
}

/** The prompt's magic word, if any: `[gemini:503]`, `[gemini:429:41s]`, `[gemini:no-image]`, `[gemini:503x2]`. */
export interface MagicWord {
  answer: FakeGeminiAnswer;
  /** How many requests carrying this prompt get the answer before the fake answers normally; null: all. */
  times: number | null;
}

export const MAGIC_WORDS_HELP = [
  "[gemini:blocked] [gemini:blocked:SAFETY]   prompt blocked (promptFeedback.blockReason)",
  "[gemini:image-safety] [gemini:no-image]    a candidate with that finishReason and no image",
  "[gemini:finish:REASON]                     any finishReason without an image",
  "[gemini:text-only] [gemini:empty-parts]    an answer without an image",
  "[gemini:429] [gemini:429:41s]              rate limited, with a RetryInfo delay (none: [gemini:429:none])",
  "[gemini:NNN]                               that HTTP error status (500, 503, 400, 404 ...)",
  "[gemini:invalid-key] [gemini:hang] [gemini:malformed-json] [gemini:jpeg-as-png] [gemini:thoughts]",
  "append xN to a word ([gemini:503x2]) to answer so only for the first N requests with that prompt",
].join("\n");

export function parseMagicWord(prompt: string): MagicWord | null {
  const match = /\[gemini:([A-Za-z0-9_.:-]+?)(?:x(\d+))?\]/.exec(prompt);
  const word = match?.[1];
  if (match === null || word === undefined) {
    return null;
  }
  const times = match[2] === undefined ? null : Number(match[2]);
  const answer = answerForWord(word);
  return answer === null ? null : { answer, times };
}

function answerForWord(word: string): FakeGeminiAnswer | null {
  const [head = "", argument] = word.split(":", 2);
  switch (head.toLowerCase()) {
    case "blocked":
      return { kind: "blocked", blockReason: argument ?? "PROHIBITED_CONTENT" };
    case "image-safety":
      return { kind: "finish", finishReason: "IMAGE_SAFETY" };
    case "no-image":
      return { kind: "finish", finishReason: "NO_IMAGE" };
    case "finish":
      return { kind: "finish", finishReason: argument ?? "OTHER" };
    case "text-only":
      return { kind: "text-only" };
    case "empty-parts":
      return { kind: "empty-parts" };
    case "invalid-key":
      return { kind: "invalid-key" };
    case "hang":
      return { kind: "hang" };
    case "malformed-json":
      return { kind: "malformed-json" };
    case "jpeg-as-png":
      return { kind: "jpeg-as-png" };
    case "thoughts":
      return { kind: "thought-images", thoughts: 2 };
    case "429":
      return { kind: "rate-limited", retryDelay: argument === "none" ? null : (argument ?? "2s") };
    default: {
      const status = Number(head);
      return Number.isInteger(status) && status >= 400 && status <= 599 ? { kind: "status", status } : null;
    }
  }
}

function responseId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString("base64url").slice(0, 23);
}
