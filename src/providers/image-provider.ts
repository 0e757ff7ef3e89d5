import type { AspectRatio, Resolution } from "../domain/catalog/aspect-ratios.ts";

/** A reference image the worker fetched for a task, in the order the client gave it. */
export interface InputImage {
  bytes: Buffer;
  /** Sniffed from the bytes: image/png, image/jpeg or image/webp. */
  mimeType: string;
  /**
   * A URL of imagegate's own that serves these bytes, for upstreams that fetch their inputs; set
   * only when PUBLIC_BASE_URL is an address the internet reaches. Absent: send the bytes inline.
   */
  url?: string;
}

/** What a worker asks an upstream image model for. */
export interface ImageRequest {
  /** The task being served, for logs and for fakes that record requests. */
  taskId: string;
  /** The catalog's model id of the task, for metrics and logs. */
  model: string;
  prompt: string;
  aspectRatio: AspectRatio;
  /** Output resolution; "1K" when absent. A provider whose model has one size ignores it. */
  resolution?: Resolution;
  /** Reference images to edit or compose from, in the client's order; none when absent. */
  images?: readonly InputImage[];
  /** Ground the generation with web search, where the model offers it. */
  googleSearch?: boolean;
  /** true: the provider's own safety checking stays on; false: relaxed as far as it allows. */
  safetyChecking: boolean;
  /** Aborted on cancellation or when the task's deadline passes. */
  signal: AbortSignal;
  /** Epoch ms after which the provider must not start another attempt. */
  deadline: number;
  /**
   * Called once, just before the first upstream call (after any wait for a concurrency slot), so
   * the worker can mark the task `generating` only when the model is really being called.
   */
  onStart?: () => Promise<void>;
  /**
   * Called just before each later upstream call of the same request (a retry, or the next provider
   * of a fallback route), so the worker can count every call before it is made. Decorators that
   * call their inner provider more than once route these calls here (see withSingleStart).
   */
  onRetry?: () => Promise<void>;
  /**
   * Upstream attempts already made for this task by earlier runs of the server, which a crash
   * interrupted: a provider with an attempt budget spends only what is left of it. 0 when absent.
   */
  attemptsSpent?: number;
}

/** The raw image an upstream returned; its real format is detected from the bytes later. */
export interface ImageOutput {
  bytes: Buffer;
  /** The mime type the upstream declared; informational only (it can be wrong). */
  declaredMimeType: string | null;
  /** Milliseconds spent waiting on the upstream, for the overhead figures. */
  upstreamMs?: number;
}

export type ProviderErrorCode =
  | "CONTENT_POLICY"
  | "PROVIDER_ERROR"
  | "TIMEOUT"
  | "INVALID_OUTPUT"
  | "CANCELED";

/**
 * The one error an ImageProvider throws for an expected upstream failure. The worker's retry and
 * fallback decisions read only `retryable`, `code` and `retryAfterMs`. `message` is a sentence
 * fit for the client; `detail` is upstream text for the log only.
 */
export class ProviderError extends Error {
  readonly retryable: boolean;
  readonly code: ProviderErrorCode;
  readonly retryAfterMs: number | null;
  readonly detail: string | null;
  /**
   * The provider itself is misconfigured (a rejected key, an unknown model): this request is not
   * at fault, and another provider of the route may serve it.
   */
  readonly operatorError: boolean;

  constructor(options: {
    code: ProviderErrorCode;
    message: string;
    retryable?: boolean;
    retryAfterMs?: number | null;
    detail?: string | null;
    operatorError?: boolean;
    cause?: unknown;
  }) {
    super(options.message, { cause: options.cause });
    this.name = "ProviderError";
    this.code = options.code;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs ?? null;
    this.detail = options.detail ?? null;
    this.operatorError = options.operatorError ?? false;
  }
}

export interface ProviderHealth {
  ok: boolean;
  /** Why not, for /readyz; never a secret. */
  reason?: string;
}

export interface ImageProvider {
  /** The name used in configuration and logs, e.g. "sandbox", "gemini". */
  readonly name: string;
  generate(request: ImageRequest): Promise<ImageOutput>;
  /** Optional: whether the provider can currently serve (e.g. a bad upstream key shows here). */
  health?(): ProviderHealth;
  /**
   * Asks the upstream whether it can serve what this provider is configured for (the model id);
   * what it learns shows in health(). The server calls it at start and then now and then.
   */
  checkUpstream?(): Promise<void>;
}
