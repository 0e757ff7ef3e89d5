// The console's only way to the server: same-origin fetches with the signed-in key as a bearer
// token, answers unwrapped from the {code, msg, data} envelope.

/** An answer other than 200, with the server's message and the request field it names, if any. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /**
   * The request field the message is about: the server's validation messages start with its path
   * (`input.prompt must not be empty`, `input.image_urls[0] must be ...`, `limit must be ...`).
   */
  get field(): string | null {
    if (this.status !== 400 && this.status !== 422) return null;
    const match = /^([A-Za-z_][A-Za-z0-9_]*(?:\[\d+\]|\.[A-Za-z_][A-Za-z0-9_]*)*) /.exec(this.message);
    return match?.[1] ?? null;
  }

  /** Whether the message is about `field` or a part of it (`input.image_urls` covers `input.image_urls[2]`). */
  isAbout(field: string): boolean {
    const named = this.field;
    return named !== null && (named === field || named.startsWith(`${field}.`) || named.startsWith(`${field}[`));
  }
}

let currentKey: string | null = null;
let onUnauthorized: (message: string) => void = () => {};

/** The key every request carries from now on; null after signing out. */
export function useKey(key: string | null): void {
  currentKey = key;
}

/** Called when the server answers 401 to the signed-in key: it was revoked, or is unknown. */
export function whenUnauthorized(handler: (message: string) => void): void {
  onUnauthorized = handler;
}

export interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal;
  /** The key to use instead of the signed-in one (signing in checks a key before keeping it). */
  key?: string;
}

function headersFor(key: string | null, body: unknown): Record<string, string> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (key !== null) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined && !(body instanceof FormData)) headers["Content-Type"] = "application/json";
  return headers;
}

/** One API call; resolves to the envelope's data, rejects with an ApiError. */
export async function api<T>(method: "GET" | "POST" | "PUT", path: string, options: RequestOptions = {}): Promise<T> {
  const key = options.key ?? currentKey;
  const body = options.body instanceof FormData ? options.body : options.body === undefined ? undefined : JSON.stringify(options.body);
  let response: Response;
  try {
    response = await fetch(path, { method, headers: headersFor(key, options.body), body, signal: options.signal ?? null, cache: "no-store" });
  } catch (error) {
    if ((error as Error).name === "AbortError") throw error;
    throw new ApiError(0, "The server could not be reached. Check that imagegate is running, then try again.");
  }
  let envelope: { code?: number; msg?: string; data?: unknown } = {};
  try {
    envelope = (await response.json()) as typeof envelope;
  } catch {
    // Not JSON (a proxy's error page): the status alone says what happened.
  }
  const status = response.ok ? (envelope.code ?? response.status) : response.status;
  if (status === 200) return envelope.data as T;
  const message = envelope.msg ?? `The server answered ${response.status} ${response.statusText}.`;
  if (status === 401 && options.key === undefined) onUnauthorized(message);
  throw new ApiError(status, message);
}

/** Builds a query string from the values that are set. */
export function query(values: Record<string, string | number | null | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) if (value !== null && value !== undefined && value !== "") params.set(name, String(value));
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

/**
 * Follows a server-sent event stream (GET with the key in the Authorization header, which
 * EventSource cannot send), calling `onEvent` with each event's name and parsed data.
 */
export async function followEvents(
  path: string,
  onEvent: (event: string, data: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  const response = await fetch(path, { headers: { ...headersFor(currentKey, undefined), Accept: "text/event-stream" }, signal, cache: "no-store" });
  if (!response.ok || response.body === null) {
    let message = `The server answered ${response.status}.`;
    try {
      message = ((await response.json()) as { msg?: string }).msg ?? message;
    } catch {
      // keep the status
    }
    throw new ApiError(response.status, message);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffered += value;
    let end = buffered.indexOf("\n\n");
    while (end !== -1) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length > 0) {
        try {
          onEvent(event, JSON.parse(data.join("\n")));
        } catch {
          onEvent(event, data.join("\n"));
        }
      }
      end = buffered.indexOf("\n\n");
    }
  }
}
