import type { Logger } from "pino";
import { systemClock, type Clock } from "../domain/clock.ts";
import {
  type ImageOutput,
  type ImageProvider,
  type ImageRequest,
  type ProviderHealth,
} from "./image-provider.ts";
import { abortedRequestError } from "./request-abort.ts";
import { fallsBack } from "./routing/routed-image-provider.ts";
import { withSingleStart } from "./start-once.ts";

export interface FallbackImageProviderOptions {
  /** Defaults to the route's provider names joined by ">". */
  name?: string;
  clock?: Clock;
  logger?: Logger;
}

/**
 * A model's route: an ordered list of providers, each normally with its own retries. When one
 * gives up on a retryable failure, or fails because it is misconfigured (a rejected key, an unknown
 * model), the next one is tried. A refusal (CONTENT_POLICY) would be refused again elsewhere and
 * any other non-retryable failure is the request's fault, so neither falls
 * back; nor does anything once the task itself was canceled or ran out of time.
 */
export class FallbackImageProvider implements ImageProvider {
  readonly name: string;
  readonly #route: readonly ImageProvider[];
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;

  constructor(route: readonly ImageProvider[], options: FallbackImageProviderOptions = {}) {
    if (route.length === 0) {
      throw new RangeError("a fallback route needs at least one provider");
    }
    this.#route = route;
    this.name = options.name ?? route.map((provider) => provider.name).join(">");
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger;
  }

  async generate(request: ImageRequest): Promise<ImageOutput> {
    const routedRequest = withSingleStart(request);
    for (const [position, provider] of this.#route.entries()) {
      try {
        return await provider.generate(routedRequest);
      } catch (error) {
        if (request.signal.aborted) {
          throw abortedRequestError(request.signal);
        }
        const next = this.#route[position + 1];
        if (next === undefined || !fallsBack(error) || this.#clock.now() >= request.deadline) {
          throw error;
        }
        this.#logger?.warn(
          { taskId: request.taskId, from: provider.name, to: next.name, code: error.code },
          "falling back to the next provider of the route",
        );
      }
    }
    // The loop returns or throws on its last provider; this keeps the compiler sure of it.
    throw new Error("unreachable: the fallback route ended without an outcome");
  }

  async checkUpstream(): Promise<void> {
    await Promise.all(this.#route.map((provider) => provider.checkUpstream?.()));
  }

  /** Healthy while any provider of the route can serve. */
  health(): ProviderHealth {
    const reports = this.#route.map((provider) => provider.health?.() ?? { ok: true });
    if (reports.some((report) => report.ok)) {
      return { ok: true };
    }
    const reasons = reports.map((report) => report.reason).filter((reason) => reason !== undefined);
    return reasons.length > 0 ? { ok: false, reason: reasons.join("; ") } : { ok: false };
  }
}
