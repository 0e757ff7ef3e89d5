/** The fields of Google's JSON error body the adapter decides on. */
export interface UpstreamErrorBody {
  code: number | null;
  status: string | null;
  message: string | null;
  /** Every `details[].reason` (ErrorInfo), e.g. API_KEY_INVALID. */
  reasons: string[];
  /** RetryInfo.retryDelay in milliseconds, when the upstream gave one. */
  retryDelayMs: number | null;
}

/**
 * Parses an ApiError's message, which the SDK fills with the JSON error body
 * (`{"error":{"code","message","status","details"}}`). Anything else yields empty fields rather
 * than throwing: a proxy's HTML error page must still map to an error by its HTTP status.
 */
export function parseUpstreamErrorBody(text: string): UpstreamErrorBody {
  const empty: UpstreamErrorBody = { code: null, status: null, message: null, reasons: [], retryDelayMs: null };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return empty;
  }
  const error = isRecord(parsed) ? parsed["error"] : undefined;
  if (!isRecord(error)) {
    return empty;
  }
  const details = Array.isArray(error["details"]) ? error["details"].filter(isRecord) : [];
  const reasons = details.flatMap((detail) => (typeof detail["reason"] === "string" ? [detail["reason"]] : []));
  const retryInfo = details.find(
    (detail) => typeof detail["@type"] === "string" && detail["@type"].endsWith("google.rpc.RetryInfo"),
  );
  return {
    code: typeof error["code"] === "number" ? error["code"] : null,
    status: typeof error["status"] === "string" ? error["status"] : null,
    message: typeof error["message"] === "string" ? error["message"] : null,
    reasons,
    retryDelayMs: retryInfo === undefined ? null : parseDuration(retryInfo["retryDelay"]),
  };
}

/**
 * A protobuf Duration in its JSON form ("41s", "1.5s", "0.250s"), or in the object form
 * (`{seconds, nanos}`) some proxies re-encode it to; milliseconds, or null when unreadable.
 */
export function parseDuration(value: unknown): number | null {
  if (typeof value === "string") {
    const match = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
    return match?.[1] === undefined ? null : Math.round(Number(match[1]) * 1000);
  }
  if (isRecord(value)) {
    const seconds = Number(value["seconds"] ?? 0);
    const nanos = Number(value["nanos"] ?? 0);
    if (Number.isFinite(seconds) && Number.isFinite(nanos) && seconds >= 0 && nanos >= 0) {
      return Math.round(seconds * 1000 + nanos / 1_000_000);
    }
  }
  return null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
