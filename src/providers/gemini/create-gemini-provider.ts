import type { Logger } from "pino";
import { systemClock, type Clock } from "../../domain/clock.ts";
import { ConcurrencyLimitedImageProvider } from "../concurrency-limited-image-provider.ts";
import type { ImageProvider } from "../image-provider.ts";
import { MeteredImageProvider, type UpstreamCallObserver } from "../metered-image-provider.ts";
import { RetryingImageProvider } from "../retrying-image-provider.ts";
import { abortableSleep, type Random, type Sleep } from "../sleep.ts";
import { GeminiImageProvider } from "./gemini-image-provider.ts";
import { KeyPool } from "./key-pool.ts";
import type { GeminiModelMap } from "./upstream-models.ts";

/** Backoff of the first retry when the upstream names no delay; doubles per retry up to the cap. */
const BASE_RETRY_DELAY_MS = 1_000;
const MAX_RETRY_DELAY_MS = 30_000;

export interface GeminiOptions {
  /** GEMINI_API_KEY, or the GEMINI_API_KEYS pool; requests rotate over them. */
  apiKeys: string[];
  /** GEMINI_BASE_URL: another server speaking Google's API (a proxy, the fake). */
  baseUrl?: string;
  /** "v1beta" (the SDK's default) or "v1". */
  apiVersion?: string;
  /** The upstream model of every public model (GEMINI_MODEL_MAP, GEMINI_MODEL, the catalog's defaults). */
  models: GeminiModelMap;
  /** GEMINI_TIMEOUT_MS: budget of each upstream attempt. */
  timeoutMs: number;
  /** GEMINI_MAX_ATTEMPTS: upstream attempts per task, the first one included. */
  maxAttempts: number;
  /** GEMINI_MAX_CONCURRENCY: upstream calls in flight at once, across all tasks of this process. */
  maxConcurrency: number;
  logger: Logger;
  /** The name in configuration and logs (bound to the logger given); set it when a route holds two Gemini instances. */
  name?: string;
  clock?: Clock;
  sleep?: Sleep;
  random?: Random;
  fetch?: typeof fetch;
  /** Told of every upstream attempt, retries included. */
  observer?: UpstreamCallObserver;
}

/**
 * Gemini as one ImageProvider: retries outermost, so a task sleeping between attempts holds no
 * concurrency slot; then the concurrency limit; then the meter, which sees each attempt; then the
 * adapter, which calls onStart right before its upstream call (the retry layer makes that happen
 * once per task).
 */
export function createGeminiProvider(options: GeminiOptions): ImageProvider {
  const clock = options.clock ?? systemClock;
  const sleep = options.sleep ?? abortableSleep;
  // One binding of the provider's name for every layer's lines.
  const logger = options.logger.child({ provider: options.name ?? "gemini" });
  const adapter = new GeminiImageProvider({
    name: options.name ?? "gemini",
    keyPool: new KeyPool(options.apiKeys, clock),
    models: options.models,
    baseUrl: options.baseUrl,
    apiVersion: options.apiVersion,
    timeoutMs: options.timeoutMs,
    logger,
    clock,
    sleep,
    fetch: options.fetch,
  });
  const metered = options.observer === undefined ? adapter : new MeteredImageProvider(adapter, options.observer);
  const limited = new ConcurrencyLimitedImageProvider(metered, { maxConcurrency: options.maxConcurrency, clock });
  return new RetryingImageProvider(limited, {
    policy: {
      maxAttempts: options.maxAttempts,
      baseDelayMs: BASE_RETRY_DELAY_MS,
      maxDelayMs: MAX_RETRY_DELAY_MS,
      // "No image" is retried exactly once: a model that declined twice will keep declining.
      attemptLimits: { INVALID_OUTPUT: 2 },
    },
    clock,
    sleep,
    random: options.random,
    logger,
  });
}
