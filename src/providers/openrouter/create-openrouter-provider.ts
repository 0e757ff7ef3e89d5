import { systemClock } from "../../domain/clock.ts";
import type { ImageProvider } from "../image-provider.ts";
import { abortableSleep } from "../sleep.ts";
import { layeredUpstream } from "../upstream-layers.ts";
import { DEFAULT_UPSTREAM_MODELS } from "../upstreams/default-models.ts";
import type { OpenRouterUpstreamOptions } from "../upstreams/kinds.ts";
import { OpenRouterImageProvider } from "./openrouter-image-provider.ts";


/** OpenRouter as one ImageProvider: the adapter inside the layers every upstream has. */
export function createOpenRouterProvider(options: OpenRouterUpstreamOptions): ImageProvider {
  const clock = options.clock ?? systemClock;
  const sleep = options.sleep ?? abortableSleep;
  const logger = options.logger.child({ provider: options.name });
  const adapter = createOpenRouterAdapter({ ...options, logger, clock });
  return layeredUpstream(adapter, { ...options, logger, clock, sleep });
}

/** The OpenRouter adapter alone, one attempt per call; the logger given is used as is. */
export function createOpenRouterAdapter(options: OpenRouterUpstreamOptions): OpenRouterImageProvider {
  return new OpenRouterImageProvider({
    name: options.name,
    apiKey: options.apiKey,
    models: Object.keys(options.models).length > 0 ? options.models : DEFAULT_UPSTREAM_MODELS.openrouter,
    baseUrl: options.baseUrl,
    timeoutMs: options.timeoutMs,
    logger: options.logger,
    clock: options.clock,
    fetch: options.fetch,
  });
}
