import type { Logger } from "pino";
import { systemClock, type Clock } from "../domain/clock.ts";
import {
  ProviderError,
  type ImageOutput,
  type ImageProvider,
  type ImageRequest,
  type ProviderErrorCode,
  type ProviderHealth,
} from "./image-provider.ts";
import { abortedRequestError, deadlinePassedError } from "./request-abort.ts";
import { abortableSleep, type Random, type Sleep } from "./sleep.ts";
import { withSingleStart } from "./start-once.ts";

/** failMsg of a task whose earlier runs, cut short by crashes, already made every attempt allowed. */
export const ATTEMPTS_SPENT_MESSAGE = "The task's upstream attempts were all spent across restarts of the server.";

export interface RetryPolicy {
  /** Upstream attempts in all, the first one included. */
  maxAttempts: number;
  /** Backoff ceiling of the first retry; it doubles per retry up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /**
   * Per-code caps on the attempts that may end with that code, below maxAttempts: a model that
   * answered without an image once will likely do it again, so that case earns one retry only.
   */
  attemptLimits?: Partial<Record<ProviderErrorCode, number>>;
}

export interface RetryingImageProviderOptions {
  policy: RetryPolicy;
  clock?: Clock;
  sleep?: Sleep;
  random?: Random;
  logger?: Logger;
}

/**
 * Retries the inner provider's retryable ProviderErrors with exponential backoff and full jitter,
 * or after the upstream's own retryAfterMs when it gave one. It never sleeps past the task's
 * deadline (it fails with the last error instead, which is more useful than a bare timeout) and
 * stops as soon as the task's signal aborts.
 */
export class RetryingImageProvider implements ImageProvider {
  readonly name: string;
  readonly #inner: ImageProvider;
  readonly #policy: RetryPolicy;
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  readonly #random: Random;
  readonly #logger: Logger | undefined;

  constructor(inner: ImageProvider, options: RetryingImageProviderOptions) {
    if (!Number.isInteger(options.policy.maxAttempts) || options.policy.maxAttempts < 1) {
      throw new RangeError(`maxAttempts must be a positive integer, got ${options.policy.maxAttempts}`);
    }
    this.name = inner.name;
    this.#inner = inner;
    this.#policy = options.policy;
    this.#clock = options.clock ?? systemClock;
    this.#sleep = options.sleep ?? abortableSleep;
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger;
  }

  async generate(request: ImageRequest): Promise<ImageOutput> {
    // Attempts made by earlier runs of the server count against this task's budget.
    const spent = request.attemptsSpent ?? 0;
    const budget = this.#policy.maxAttempts - spent;
    if (budget <= 0) {
      // Retryable like any budget spent: a fallback route moves on to its next provider.
      throw new ProviderError({
        code: "PROVIDER_ERROR",
        message: ATTEMPTS_SPENT_MESSAGE,
        retryable: true,
        detail: `${spent} upstream attempts were made before a restart; the limit is ${this.#policy.maxAttempts}`,
      });
    }
    const attemptRequest = withSingleStart(request);
    const failuresByCode = new Map<ProviderErrorCode, number>();
    let lastError: ProviderError | null = null;

    for (let attempt = 1; ; attempt += 1) {
      if (request.signal.aborted) {
        throw abortedRequestError(request.signal);
      }
      if (this.#clock.now() >= request.deadline) {
        throw lastError ?? deadlinePassedError();
      }
      try {
        return await this.#inner.generate(attemptRequest);
      } catch (error) {
        if (!(error instanceof ProviderError) || !error.retryable) {
          throw error;
        }
        if (request.signal.aborted) {
          throw abortedRequestError(request.signal);
        }
        lastError = error;
        const failures = (failuresByCode.get(error.code) ?? 0) + 1;
        failuresByCode.set(error.code, failures);
        const codeLimit = this.#policy.attemptLimits?.[error.code] ?? Number.POSITIVE_INFINITY;
        if (attempt >= budget || failures >= codeLimit) {
          throw error;
        }
        const delayMs = error.retryAfterMs ?? this.#backoffMs(attempt);
        if (this.#clock.now() + delayMs >= request.deadline) {
          throw error;
        }
        this.#logger?.info(
          { taskId: request.taskId, provider: this.name, attempt, code: error.code, delayMs },
          "retrying the image provider",
        );
        if (delayMs > 0) {
          await this.#sleepUnlessAborted(delayMs, request.signal);
        }
      }
    }
  }

  health(): ProviderHealth {
    return this.#inner.health?.() ?? { ok: true };
  }

  async checkUpstream(): Promise<void> {
    await this.#inner.checkUpstream?.();
  }

  /** Full jitter (uniform in [0, ceiling]) spreads the retries of many tasks failing together. */
  #backoffMs(attempt: number): number {
    const ceiling = Math.min(this.#policy.maxDelayMs, this.#policy.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(this.#random() * ceiling);
  }

  async #sleepUnlessAborted(delayMs: number, signal: AbortSignal): Promise<void> {
    try {
      await this.#sleep(delayMs, signal);
    } catch (error) {
      if (signal.aborted) {
        throw abortedRequestError(signal);
      }
      throw error;
    }
    if (signal.aborted) {
      throw abortedRequestError(signal);
    }
  }
}
