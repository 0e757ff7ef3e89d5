import type { Logger } from "pino";
import { systemClock, type Clock } from "../../domain/clock.ts";
import type { ImageProvider } from "../image-provider.ts";
import type { UpstreamCallObserver } from "../metered-image-provider.ts";
import { abortableSleep, type Random, type Sleep } from "../sleep.ts";
import { layeredUpstream } from "../upstream-layers.ts";
import type { GeminiUpstreamOptions } from "../upstreams/kinds.ts";
import { GeminiImageProvider } from "./gemini-image-provider.ts";
import { KeyPool } from "./key-pool.ts";
import type { GeminiModelMap } from "./upstream-models.ts";

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

/** Gemini as one ImageProvider: the adapter inside the layers every upstream has (see layeredUpstream). */
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
  return layeredUpstream(adapter, { ...options, logger, clock, sleep });
}

/** A Gemini upstream of a route (UPSTREAMS_FILE): its models are the file's map of public to upstream ids. */
export function createGeminiUpstream(options: GeminiUpstreamOptions): ImageProvider {
  const models = Object.fromEntries(Object.entries(options.models).map(([publicId, upstream]) => [publicId, { upstream, setting: "UPSTREAMS_FILE" }]));
  return createGeminiProvider({ ...options, models });
}
