import type { ImageProvider } from "../image-provider.ts";
import { layeredAdapter } from "../upstream-layers.ts";
import { modelsOrDefaults } from "../upstreams/default-models.ts";
import type { FalUpstreamOptions } from "../upstreams/kinds.ts";
import { FalImageProvider } from "./fal-image-provider.ts";

/** fal as one ImageProvider: the queue adapter inside the layers every upstream has (see layeredUpstream). */
export function createFalProvider(options: Omit<FalUpstreamOptions, "kind">): ImageProvider {
  return layeredAdapter(options, (bound) =>
    new FalImageProvider({
      name: bound.name,
      apiKey: bound.apiKey,
      // An upstream that names no models serves each public model on fal's own id for it.
      models: modelsOrDefaults("fal", bound.models),
      baseUrl: bound.baseUrl,
      timeoutMs: bound.timeoutMs,
      pollIntervalMs: bound.pollIntervalMs,
      logger: bound.logger,
      clock: bound.clock,
      // Polls wait in real time, bounded by the attempt's own timer: the injected sleep paces retries only.
      fetch: bound.fetch,
    }),
  );
}
