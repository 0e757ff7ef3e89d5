import { systemClock } from "../../domain/clock.ts";
import type { ImageProvider } from "../image-provider.ts";
import { abortableSleep } from "../sleep.ts";
import { layeredUpstream } from "../upstream-layers.ts";
import type { FalUpstreamOptions } from "../upstreams/kinds.ts";
import { FalImageProvider } from "./fal-image-provider.ts";
import { FAL_DEFAULT_MODELS } from "./fal-models.ts";

export { FAL_DEFAULT_MODELS };

/** fal as one ImageProvider: the queue adapter inside the layers every upstream has (see layeredUpstream). */
export function createFalProvider(options: Omit<FalUpstreamOptions, "kind">): ImageProvider {
  const clock = options.clock ?? systemClock;
  const sleep = options.sleep ?? abortableSleep;
  // One binding of the provider's name for every layer's lines.
  const logger = options.logger.child({ provider: options.name });
  const adapter = new FalImageProvider({
    name: options.name,
    apiKey: options.apiKey,
    // An upstream that names no models serves each public model on fal's endpoint for it.
    models: Object.keys(options.models).length > 0 ? options.models : FAL_DEFAULT_MODELS,
    baseUrl: options.baseUrl,
    timeoutMs: options.timeoutMs,
    pollIntervalMs: options.pollIntervalMs,
    logger,
    clock,
    // Polls wait in real time, bounded by the attempt's own timer: the injected sleep paces retries only.
    fetch: options.fetch,
  });
  return layeredUpstream(adapter, { ...options, logger, clock, sleep });
}
