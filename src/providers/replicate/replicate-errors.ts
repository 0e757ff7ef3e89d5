import { isRecord } from "../upstream-http.ts";

/** Replicate's E005: "The input or output was flagged as sensitive", and the models' own safety refusals. */
const SENSITIVE = /\bE005\b|flagged as sensitive|nsfw|content[_ ]polic|safety (filter|checker|block)/i;

/** Failures a new attempt with the same input would meet again. */
const INPUT_FAULT = /invalid (input|image)|input validation|unsupported image|cannot identify image|could not (load|decode|download) (the )?(input )?image/i;

export type PredictionFailure = "content-policy" | "input" | "model";

/** Why a prediction failed, from its `error` text. */
export function classifyPredictionError(error: string): PredictionFailure {
  if (SENSITIVE.test(error)) return "content-policy";
  if (INPUT_FAULT.test(error)) return "input";
  return "model";
}

/** Replicate's problem body, `{title, detail, status}`, and a 429's `retry_after` where given. */
export interface ReplicateErrorBody {
  message: string | null;
  retryAfterSeconds: unknown;
}

export function readReplicateErrorBody(body: unknown): ReplicateErrorBody {
  if (!isRecord(body)) return { message: null, retryAfterSeconds: null };
  const parts = [body.title, body.detail].filter((part): part is string => typeof part === "string" && part !== "");
  return { message: parts.length > 0 ? parts.join(": ") : null, retryAfterSeconds: body.retry_after ?? null };
}
