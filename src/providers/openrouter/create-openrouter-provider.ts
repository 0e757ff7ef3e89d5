import type { ImageProvider } from "../image-provider.ts";
import { layeredAdapter } from "../upstream-layers.ts";
import { modelsOrDefaults } from "../upstreams/default-models.ts";
import type { OpenRouterUpstreamOptions } from "../upstreams/kinds.ts";
import { OpenRouterImageProvider } from "./openrouter-image-provider.ts";

/** OpenRouter as one ImageProvider: the adapter inside the layers every upstream has. */
export function createOpenRouterProvider(options: OpenRouterUpstreamOptions): ImageProvider {
  return layeredAdapter(options, createOpenRouterAdapter);
}

/** The OpenRouter adapter alone, one attempt per call; the logger given is used as is. */
export function createOpenRouterAdapter(options: OpenRouterUpstreamOptions): OpenRouterImageProvider {
  return new OpenRouterImageProvider({
    name: options.name,
    apiKey: options.apiKey,
    models: modelsOrDefaults("openrouter", options.models),
    baseUrl: options.baseUrl,
    timeoutMs: options.timeoutMs,
    logger: options.logger,
    clock: options.clock,
    fetch: options.fetch,
  });
}
