import { isRecord } from "../upstream-http.ts";

/** The `type` fal gives an input its content checker refused. */
const CONTENT_POLICY_TYPE = "content_policy_violation";

/** Messages that say the same when a model's answer carries no type (older endpoints). */
const CONTENT_POLICY_TEXT = /content[_ ]policy|nsfw|flagged by a content checker|safety (filter|checker)/i;

/** What fal's error body says, read from `{detail: [{loc, msg, type}]}` or `{detail: "text"}`. */
export interface FalErrorBody {
  /** Every error type given, e.g. ["content_policy_violation"]. */
  types: string[];
  /** The messages, joined, for the log. */
  message: string | null;
  contentPolicy: boolean;
}

export function readFalErrorBody(body: unknown): FalErrorBody {
  const detail = isRecord(body) ? body.detail : body;
  const entries = Array.isArray(detail) ? detail : [detail];
  const types: string[] = [];
  const messages: string[] = [];
  for (const entry of entries) {
    if (typeof entry === "string") {
      messages.push(entry);
      continue;
    }
    if (!isRecord(entry)) continue;
    if (typeof entry.type === "string") types.push(entry.type);
    if (typeof entry.msg === "string") messages.push(entry.msg);
  }
  const message = messages.length > 0 ? messages.join("; ") : null;
  const contentPolicy = types.includes(CONTENT_POLICY_TYPE) || (message !== null && CONTENT_POLICY_TEXT.test(message));
  return { types, message, contentPolicy };
}
