import type { ImageProvider } from "../image-provider.ts";
import { layeredAdapter } from "../upstream-layers.ts";
import { modelsOrDefaults } from "../upstreams/default-models.ts";
import type { ReplicateUpstreamOptions } from "../upstreams/kinds.ts";
import { ReplicateImageProvider } from "./replicate-image-provider.ts";

/** Replicate as one ImageProvider: the predictions adapter inside the layers every upstream has (see layeredUpstream). */
export function createReplicateProvider(options: Omit<ReplicateUpstreamOptions, "kind">): ImageProvider {
  return layeredAdapter(options, (bound) =>
    new ReplicateImageProvider({
      name: bound.name,
      apiToken: bound.apiToken,
      // An upstream that names no models serves each public model on Replicate's own id for it.
      models: modelsOrDefaults("replicate", bound.models),
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
