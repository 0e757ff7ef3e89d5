import type { Logger } from "pino";
import { systemClock, type Clock } from "../../domain/clock.ts";
import {
  ProviderError,
  type ImageOutput,
  type ImageProvider,
  type ImageRequest,
  type ProviderHealth,
} from "../image-provider.ts";
import { AttemptScope, throwIfOver, transportFailure, UPSTREAM_MESSAGES } from "../upstream-attempt.ts";
import { retryAfterMs } from "../upstream-http.ts";
import { openRouterRequestBody } from "./openrouter-request.ts";
import {
  isModerationError,
  parseOpenRouterError,
  readOpenRouterResponse,
  type OpenRouterError,
} from "./openrouter-response.ts";

export const OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1";

const MESSAGES = UPSTREAM_MESSAGES;

export interface OpenRouterImageProviderOptions {
  name: string;
  apiKey: string;
  /** OpenRouter's model id of each public model, e.g. {"nano-banana-pro": "google/gemini-3-pro-image"}. */
  models: Readonly<Record<string, string>>;
  /** Another server speaking OpenRouter's API (a proxy, a fake); OpenRouter's when unset. */
  baseUrl?: string;
  /** Budget of one upstream attempt, in ms. */
  timeoutMs: number;
  logger: Logger;
  clock?: Clock;
  fetch?: typeof fetch;
}

/**
 * The OpenRouter adapter: ONE chat completions call per generate, with image output, every
 * outcome an ImageOutput or a ProviderError. Upstream text only reaches `detail` and the log.
 */
export class OpenRouterImageProvider implements ImageProvider {
  readonly name: string;
  readonly #options: OpenRouterImageProviderOptions;
  readonly #endpoint: string;
  readonly #clock: Clock;
  readonly #fetch: typeof fetch;
  /** Why the key cannot serve (401, 402), until a call succeeds again. */
  #rejection: string | null = null;

  constructor(options: OpenRouterImageProviderOptions) {
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) {
      throw new RangeError(`the OpenRouter timeout must be a positive number of ms, got ${options.timeoutMs}`);
    }
    if (options.apiKey.trim() === "") throw new RangeError("the OpenRouter upstream needs an API key");
    this.name = options.name;
    this.#options = options;
    this.#endpoint = `${(options.baseUrl ?? OPENROUTER_BASE_URL).replace(/\/+$/, "")}/chat/completions`;
    this.#clock = options.clock ?? systemClock;
    this.#fetch = options.fetch ?? fetch;
  }

  health(): ProviderHealth {
    return this.#rejection === null ? { ok: true } : { ok: false, reason: this.#rejection };
  }

  async generate(request: ImageRequest): Promise<ImageOutput> {
    throwIfOver(request, this.#clock);
    const model = this.#modelOf(request);
    const body = JSON.stringify(openRouterRequestBody(request, model));
    await request.onStart?.();
    throwIfOver(request, this.#clock);
    return this.#attempt(request, model, body);
  }

  #modelOf(request: ImageRequest): string {
    const model = this.#options.models[request.model];
    if (model !== undefined) return model;
    const detail = `no OpenRouter model is mapped for ${request.model}`;
    this.#options.logger.error({ taskId: request.taskId, publicModel: request.model, operatorError: true }, detail);
    throw new ProviderError({ code: "PROVIDER_ERROR", message: MESSAGES.misconfigured, detail, operatorError: true });
  }


  async #attempt(request: ImageRequest, model: string, body: string): Promise<ImageOutput> {
    const scope = new AttemptScope(request, this.#options.timeoutMs, this.#clock);
    const logFields = { taskId: request.taskId, model };

    let status: number;
    let text: string;
    let retryAfter: number | null;
    try {
      const response = await this.#fetch(this.#endpoint, {
        method: "POST",
        headers: {
          authorization: `Bearer ${this.#options.apiKey}`,
          "content-type": "application/json",
          // OpenRouter's attribution headers: they name the app in its dashboard, nothing more.
          "x-title": "imagegate",
        },
        body,
        signal: scope.signal,
      });
      status = response.status;
      retryAfter = retryAfterMs(response.headers, null, this.#clock.now());
      // The body too is read under the attempt's budget: a stalled answer is a timeout as well.
      text = await response.text();
    } catch (error) {
      throw transportFailure(error, scope, request, { service: "OpenRouter", timeoutMs: this.#options.timeoutMs, logger: this.#options.logger, fields: logFields });
    } finally {
      scope.close();
    }
    const upstreamMs = scope.elapsedMs();

    if (status < 200 || status >= 300) {
      throw this.#errorFailure(status, parseOpenRouterError(text), retryAfter, text, logFields);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      const detail = `HTTP ${status} with unreadable JSON (${text.length} characters)`;
      this.#options.logger.warn({ ...logFields, detail }, "OpenRouter answered with unreadable JSON");
      throw new ProviderError({ code: "PROVIDER_ERROR", message: MESSAGES.unreadable, retryable: true, detail, cause: error });
    }
    const outcome = readOpenRouterResponse(parsed);
    switch (outcome.kind) {
      case "image":
        this.#rejection = null;
        this.#options.logger.debug({ ...logFields, upstreamMs }, "OpenRouter returned an image");
        return { bytes: outcome.bytes, declaredMimeType: outcome.declaredMimeType, upstreamMs };
      case "refused":
        this.#rejection = null;
        this.#options.logger.info({ ...logFields, detail: outcome.reason }, "OpenRouter's model refused the prompt or image");
        throw new ProviderError({ code: "CONTENT_POLICY", message: MESSAGES.refused, detail: outcome.reason });
      case "no-image":
        this.#rejection = null;
        this.#options.logger.warn({ ...logFields, detail: outcome.reason }, "OpenRouter answered without an image");
        // Retryable, with a budget of one retry set by the layers' retry policy.
        throw new ProviderError({ code: "INVALID_OUTPUT", message: MESSAGES.noImage, retryable: true, detail: outcome.reason });
      case "error":
        // The model failed after OpenRouter took the request: the error's code is the status it stands for.
        throw this.#errorFailure(outcome.error.code ?? 502, outcome.error, retryAfter, text, logFields);
    }
  }

  #errorFailure(
    status: number,
    error: OpenRouterError | null,
    retryAfterMs: number | null,
    text: string,
    logFields: Record<string, unknown>,
  ): ProviderError {
    const detail = `HTTP ${status}: ${error?.message ?? text.slice(0, 200)}`;
    const fields = { ...logFields, httpStatus: status, detail };
    if (status === 401 || status === 402) {
      // A rejected key, or an account out of credit: every task fails the same way until the operator acts.
      this.#rejection = status === 401 ? "OpenRouter rejected the API key; check the upstream's apiKey" : "the OpenRouter account is out of credits";
      this.#options.logger.error({ ...fields, operatorError: true }, `OPERATOR ACTION NEEDED: ${this.#rejection}`);
      return new ProviderError({ code: "PROVIDER_ERROR", message: MESSAGES.misconfigured, detail, operatorError: true });
    }
    if (status === 403 && isModerationError(error)) {
      const reasons = error?.metadata?.["reasons"];
      const why = Array.isArray(reasons) ? reasons.join(", ") : "flagged";
      this.#options.logger.info({ ...fields, reasons: why }, "OpenRouter's moderation flagged the prompt");
      return new ProviderError({ code: "CONTENT_POLICY", message: MESSAGES.refused, detail: `${detail} (${why})` });
    }
    if (status === 429) {
      this.#options.logger.warn({ ...fields, retryAfterMs }, "OpenRouter rate limit");
      return new ProviderError({ code: "PROVIDER_ERROR", message: MESSAGES.rateLimited, retryable: true, retryAfterMs, detail });
    }
    if (status === 408 || status >= 500) {
      this.#options.logger.warn(fields, "OpenRouter or its model is unavailable");
      return new ProviderError({ code: "PROVIDER_ERROR", message: MESSAGES.unavailable, retryable: true, detail });
    }
    // 403 without a moderation verdict (a key not allowed this model), 404 (no such model): the operator's settings.
    const operatorError = status === 403 || status === 404;
    this.#options.logger.error({ ...fields, operatorError }, "OpenRouter rejected the request");
    return new ProviderError({ code: "PROVIDER_ERROR", message: operatorError ? MESSAGES.misconfigured : MESSAGES.rejected, detail, operatorError });
  }
}
