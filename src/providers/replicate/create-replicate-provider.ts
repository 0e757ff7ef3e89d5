import { systemClock } from "../../domain/clock.ts";
import type { ImageProvider } from "../image-provider.ts";
import { abortableSleep } from "../sleep.ts";
import { layeredUpstream } from "../upstream-layers.ts";
import type { ReplicateUpstreamOptions } from "../upstreams/kinds.ts";
import { ReplicateImageProvider } from "./replicate-image-provider.ts";
import { REPLICATE_DEFAULT_MODELS } from "./replicate-models.ts";

export { REPLICATE_DEFAULT_MODELS };

/** Replicate as one ImageProvider: the predictions adapter inside the layers every upstream has (see layeredUpstream). */
export function createReplicateProvider(options: Omit<ReplicateUpstreamOptions, "kind">): ImageProvider {
  const clock = options.clock ?? systemClock;
  const sleep = options.sleep ?? abortableSleep;
  // One binding of the provider's name for every layer's lines.
  const logger = options.logger.child({ provider: options.name });
  const adapter = new ReplicateImageProvider({
    name: options.name,
    apiToken: options.apiToken,
    // An upstream that names no models serves each public model on Replicate's model for it.
    models: Object.keys(options.models).length > 0 ? options.models : REPLICATE_DEFAULT_MODELS,
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
