import { ProviderError, type ImageOutput, type ImageProvider, type ImageRequest, type ProviderHealth } from "./image-provider.ts";

/**
 * How one upstream attempt ended, a closed set for metric labels: `success`, the ProviderError's
 * code when it names the outcome, else its class: `retryable_error` (rate limits, 5xx, network,
 * a slow attempt: the retry layer may try again), `operator_error` (a rejected key, an unknown
 * model), `provider_error` (the request was refused), `internal` (not a ProviderError at all).
 */
export type UpstreamOutcome =
  | "success"
  | "content_policy"
  | "invalid_output"
  | "timeout"
  | "canceled"
  | "retryable_error"
  | "operator_error"
  | "provider_error"
  | "internal";

export interface UpstreamCall {
  provider: string;
  model: string;
  outcome: UpstreamOutcome;
  seconds: number;
}

/** Told of every upstream attempt; implemented by the metrics, which providers do not know. */
export interface UpstreamCallObserver {
  upstreamCallEnded(call: UpstreamCall): void;
}

export function upstreamOutcomeOf(error: unknown): UpstreamOutcome {
  if (!(error instanceof ProviderError)) return "internal";
  switch (error.code) {
    case "CONTENT_POLICY":
      return "content_policy";
    case "INVALID_OUTPUT":
      return "invalid_output";
    case "TIMEOUT":
      return "timeout";
    case "CANCELED":
      return "canceled";
    case "PROVIDER_ERROR":
      if (error.operatorError) return "operator_error";
      return error.retryable ? "retryable_error" : "provider_error";
  }
}

/**
 * Reports each call into the inner provider, with its duration and outcome. Placed right around
 * an adapter (inside the retry and concurrency layers), so every upstream attempt counts once and
 * time spent waiting for a slot or between retries does not.
 */
export class MeteredImageProvider implements ImageProvider {
  readonly name: string;

  constructor(
    private readonly inner: ImageProvider,
    private readonly observer: UpstreamCallObserver,
  ) {
    this.name = inner.name;
  }

  async generate(request: ImageRequest): Promise<ImageOutput> {
    const startedAt = performance.now();
    let outcome: UpstreamOutcome = "internal";
    try {
      const output = await this.inner.generate(request);
      outcome = "success";
      return output;
    } catch (error) {
      outcome = upstreamOutcomeOf(error);
      throw error;
    } finally {
      this.observer.upstreamCallEnded({
        provider: this.name,
        model: request.model,
        outcome,
        seconds: (performance.now() - startedAt) / 1000,
      });
    }
  }

  health(): ProviderHealth {
    return this.inner.health?.() ?? { ok: true };
  }

  async checkUpstream(): Promise<void> {
    await this.inner.checkUpstream?.();
  }
}
