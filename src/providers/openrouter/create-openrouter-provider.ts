import { systemClock } from "../../domain/clock.ts";
import { MODEL_SPECS } from "../../domain/catalog/models/specs.ts";
import type { ImageProvider } from "../image-provider.ts";
import { abortableSleep } from "../sleep.ts";
import { layeredUpstream } from "../upstream-layers.ts";
import type { OpenRouterUpstreamOptions } from "../upstreams/kinds.ts";
import { OpenRouterImageProvider } from "./openrouter-image-provider.ts";

/**
 * OpenRouter's model id of each public model, for a configuration that names none: OpenRouter
 * lists Google's models as google/<Google's id>, so these follow the catalog's defaults.
 */
export const OPENROUTER_DEFAULT_MODELS: Readonly<Record<string, string>> = Object.fromEntries(
  MODEL_SPECS.map((spec) => [spec.id, `google/${spec.geminiModel}`]),
);

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
    models: Object.keys(options.models).length > 0 ? options.models : OPENROUTER_DEFAULT_MODELS,
    baseUrl: options.baseUrl,
    timeoutMs: options.timeoutMs,
    logger: options.logger,
    clock: options.clock,
    fetch: options.fetch,
  });
}
