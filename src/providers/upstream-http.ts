import type { Logger } from "pino";
import { parseRetryAfter } from "../net/retry-after.ts";
import type { InputImage } from "./image-provider.ts";

/** A best-effort call (a cancel) gets this long on its own: the task that sent it is over already. */
const BEST_EFFORT_TIMEOUT_MS = 5_000;

/** Upstream text kept for `detail` and the log; a whole HTML error page is of no use there. */
const MAX_DETAIL_CHARS = 500;

/** An upstream answered with a status other than 2xx; the adapter maps it by status and body. */
export class UpstreamHttpError extends Error {
  readonly status: number;
  /** The answer's body as text, cut to a length fit for a log line. */
  readonly body: string;
  readonly headers: Headers;

  constructor(status: number, body: string, headers: Headers, what: string) {
    super(`${what} answered HTTP ${status}`);
    this.name = "UpstreamHttpError";
    this.status = status;
    this.body = body.length > MAX_DETAIL_CHARS ? `${body.slice(0, MAX_DETAIL_CHARS)}…` : body;
    this.headers = headers;
  }

  /** The body parsed as JSON, or null when it is not JSON. */
  json(): unknown {
    try {
      return JSON.parse(this.body) as unknown;
    } catch {
      return null;
    }
  }
}

export interface JsonCall {
  method: "GET" | "POST" | "PUT";
  headers: Record<string, string>;
  /** Sent as JSON when given. */
  body?: unknown;
  signal: AbortSignal;
  /** Names the call in errors: "fal submit", "Replicate poll". */
  what: string;
}

/**
 * One JSON call: a 2xx answer's body parsed (a SyntaxError when it is not JSON), anything else an
 * UpstreamHttpError carrying the status, headers and body for the adapter to map.
 */
export async function callJson(fetchImpl: typeof fetch, url: string, call: JsonCall): Promise<unknown> {
  const headers: Record<string, string> = { accept: "application/json", ...call.headers };
  if (call.body !== undefined) headers["content-type"] = "application/json";
  const response = await fetchImpl(url, {
    method: call.method,
    headers,
    body: call.body === undefined ? undefined : JSON.stringify(call.body),
    signal: call.signal,
  });
  const text = await response.text();
  if (!response.ok) throw new UpstreamHttpError(response.status, text, response.headers, call.what);
  return JSON.parse(text) as unknown;
}

export interface Download {
  bytes: Buffer;
  contentType: string | null;
}

/**
 * Fetches a generated image from where the upstream put it. No credential goes along: the URL
 * is on a CDN, and a key sent there would be a key leaked to whoever serves that host.
 */
export async function downloadImage(fetchImpl: typeof fetch, url: string, signal: AbortSignal, what: string): Promise<Download> {
  const response = await fetchImpl(url, { method: "GET", signal });
  if (!response.ok) {
    throw new UpstreamHttpError(response.status, await response.text(), response.headers, what);
  }
  const bytes = Buffer.from(await response.arrayBuffer());
  return { bytes, contentType: response.headers.get("content-type") };
}

/** Sends a request whose outcome changes nothing (a cancel); failures are logged at debug level only. */
export function sendBestEffort(
  fetchImpl: typeof fetch,
  url: string,
  init: { method: "PUT" | "POST"; headers: Record<string, string> },
  logger: Logger,
  fields: Record<string, unknown>,
): void {
  fetchImpl(url, { ...init, signal: AbortSignal.timeout(BEST_EFFORT_TIMEOUT_MS) })
    .then(async (response) => {
      await response.arrayBuffer();
      logger.debug({ ...fields, httpStatus: response.status }, "upstream cancel sent");
    })
    .catch((error: unknown) => {
      logger.debug({ ...fields, detail: error instanceof Error ? error.message : String(error) }, "upstream cancel failed");
    });
}

/**
 * The delay a 429 asks for, in ms: the Retry-After header (seconds or an HTTP date), else the
 * number of seconds the body gave, else null (the retry layer then backs off on its own).
 */
export function retryAfterMs(headers: Headers, bodySeconds: unknown = null, now: number = Date.now()): number | null {
  const fromHeader = parseRetryAfter(headers.get("retry-after"), now);
  if (fromHeader !== null) return fromHeader;
  const fromBody = typeof bodySeconds === "string" ? Number(bodySeconds) : bodySeconds;
  if (typeof fromBody === "number" && Number.isFinite(fromBody) && fromBody >= 0) return Math.round(fromBody * 1000);
  return null;
}

/** An input image as an upstream that fetches its inputs takes it: our own URL when there is one, else the bytes inline. */
export function imageReference(image: InputImage): string {
  if (image.url !== undefined && image.url !== "") return image.url;
  return `data:${image.mimeType};base64,${image.bytes.toString("base64")}`;
}

/** The first string of `value` when it is an array, or `value` itself when a string; null otherwise. */
export function firstString(value: unknown): string | null {
  if (typeof value === "string" && value !== "") return value;
  if (Array.isArray(value)) {
    const first: unknown = value.find((item) => typeof item === "string" && item !== "");
    return typeof first === "string" ? first : null;
  }
  return null;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
