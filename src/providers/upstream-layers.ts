import type { Logger } from "pino";
import { systemClock, type Clock } from "../domain/clock.ts";
import { ConcurrencyLimitedImageProvider } from "./concurrency-limited-image-provider.ts";
import type { ImageProvider, ProviderErrorCode } from "./image-provider.ts";
import { MeteredImageProvider, type UpstreamCallObserver } from "./metered-image-provider.ts";
import { RetryingImageProvider } from "./retrying-image-provider.ts";
import { abortableSleep, type Random, type Sleep } from "./sleep.ts";
import type { CommonUpstreamOptions } from "./upstreams/kinds.ts";

/** Backoff of the first retry when the upstream names no delay; doubles per retry up to the cap. */
const BASE_RETRY_DELAY_MS = 1_000;
const MAX_RETRY_DELAY_MS = 30_000;

/** What every upstream adapter is wrapped in, whatever its wire format. */
export interface UpstreamLayerOptions {
  /** Upstream attempts per task, the first one included. */
  maxAttempts: number;
  /** Upstream calls in flight at once, across all tasks of this process. */
  maxConcurrency: number;
  /** Attempts per outcome, below maxAttempts; by default "no image" is retried exactly once. */
  attemptLimits?: Partial<Record<ProviderErrorCode, number>>;
  /** Bound to the provider's name already; every layer logs through it. */
  logger: Logger;
  /** Told of every upstream attempt, retries included. */
  observer?: UpstreamCallObserver;
  clock?: Clock;
  sleep?: Sleep;
  random?: Random;
}

/**
 * One upstream as one ImageProvider: retries outermost, so a task sleeping between attempts holds
 * no concurrency slot; then the concurrency limit; then the meter, which sees each attempt; then
 * the adapter, which makes ONE upstream attempt per call and calls onStart right before it (the
 * retry layer makes that happen once per task).
 */
export function layeredUpstream(adapter: ImageProvider, options: UpstreamLayerOptions): ImageProvider {
  const clock = options.clock ?? systemClock;
  const metered = options.observer === undefined ? adapter : new MeteredImageProvider(adapter, options.observer);
  const limited = new ConcurrencyLimitedImageProvider(metered, { maxConcurrency: options.maxConcurrency, clock });
  return new RetryingImageProvider(limited, {
    policy: {
      maxAttempts: options.maxAttempts,
      baseDelayMs: BASE_RETRY_DELAY_MS,
      maxDelayMs: MAX_RETRY_DELAY_MS,
      // "No image" is retried exactly once: a model that declined twice will keep declining.
      attemptLimits: options.attemptLimits ?? { INVALID_OUTPUT: 2 },
    },
    clock,
    sleep: options.sleep ?? abortableSleep,
    random: options.random,
    logger: options.logger,
  });
}

/** An upstream's options as its adapter gets them: the logger bound to its name, clock and sleep set. */
export type BoundUpstreamOptions<O extends CommonUpstreamOptions> = O & { logger: Logger; clock: Clock; sleep: Sleep };

/**
 * An upstream of UPSTREAMS_FILE as one ImageProvider: its name bound to one logger for the adapter
 * and every layer, the clock and sleep defaulted, the adapter `build` makes inside layeredUpstream.
 */
export function layeredAdapter<O extends CommonUpstreamOptions>(options: O, build: (bound: BoundUpstreamOptions<O>) => ImageProvider): ImageProvider {
  const bound: BoundUpstreamOptions<O> = {
    ...options,
    logger: options.logger.child({ provider: options.name }),
    clock: options.clock ?? systemClock,
    sleep: options.sleep ?? abortableSleep,
  };
  return layeredUpstream(build(bound), bound);
}
