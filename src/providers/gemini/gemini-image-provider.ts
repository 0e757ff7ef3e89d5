import {
  ApiError,
  GoogleGenAI,
  HarmBlockThreshold,
  HarmCategory,
  Modality,
  type GenerateContentResponse,
  type HttpOptions,
  type Part,
  type SafetySetting,
} from "@google/genai";
import type { Logger } from "pino";
import { systemClock, type Clock } from "../../domain/clock.ts";
import {
  ProviderError,
  type ImageOutput,
  type ImageProvider,
  type ImageRequest,
  type ProviderHealth,
} from "../image-provider.ts";
import { abortedRequestError, deadlinePassedError } from "../request-abort.ts";
import { UPSTREAM_MESSAGES } from "../upstream-attempt.ts";
import { abortableSleep, type Sleep } from "../sleep.ts";
import { bufferedFetch } from "./buffered-fetch.ts";
import { readGeminiResponse } from "./gemini-response.ts";
import { parseUpstreamErrorBody } from "./gemini-upstream-error.ts";
import type { KeyLease, KeyPool } from "./key-pool.ts";
import { generateConfigFor, MODEL_MAP_SETTING, upstreamCapabilities, type GeminiModelMap } from "./upstream-models.ts";

/** A rejected key is an operator's problem that repeats on every task; once a minute is loud enough. */
export const OPERATOR_ERROR_LOG_INTERVAL_MS = 60_000;

/** Node fires longer timers at once, so a far deadline is capped to the longest delay it honours. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** The categories the Gemini Developer API accepts; the image-specific ones are Vertex-only. */
const HARM_CATEGORIES: readonly HarmCategory[] = [
  HarmCategory.HARM_CATEGORY_HARASSMENT,
  HarmCategory.HARM_CATEGORY_HATE_SPEECH,
  HarmCategory.HARM_CATEGORY_SEXUALLY_EXPLICIT,
  HarmCategory.HARM_CATEGORY_DANGEROUS_CONTENT,
  HarmCategory.HARM_CATEGORY_CIVIC_INTEGRITY,
];

/** Sent when the client turned safety checking off: the most permissive threshold everywhere. */
const PERMISSIVE_SAFETY_SETTINGS: readonly SafetySetting[] = HARM_CATEGORIES.map((category) => ({
  category,
  threshold: HarmBlockThreshold.BLOCK_NONE,
}));

/** Statuses that say the upstream is struggling, not that the request is wrong. */
const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([408, 500, 502, 503, 504]);

const MESSAGES = {
  ...UPSTREAM_MESSAGES,
  imageTooLarge: "A reference image is too large for the image model.",
} as const;

export interface GeminiImageProviderOptions {
  /** The name in configuration and logs; "gemini" unless a route holds several. */
  name?: string;
  keyPool: KeyPool;
  /** The upstream model of every public model a request may name, and the variable that sets it. */
  models: GeminiModelMap;
  /** Another server speaking Google's API (a proxy, or the fake in tests); Google's when unset. */
  baseUrl?: string;
  /** "v1beta" (the SDK's default) or "v1". */
  apiVersion?: string;
  /** Budget of one upstream attempt, in ms. */
  timeoutMs: number;
  logger: Logger;
  clock?: Clock;
  sleep?: Sleep;
  /** The fetch the SDK calls; bufferedFetch unless given. */
  fetch?: typeof fetch;
  /**
   * Makes the SDK client for one credential of the pool: a Gemini API client with that API key
   * unless given. Vertex AI gives its own (one pseudo-key, a service account's OAuth tokens).
   */
  createClient?: (key: string, httpOptions: HttpOptions) => GoogleGenAI;
  /** How logs and health name the service and the setting an operator fixes; the Gemini API's unless given. */
  service?: GeminiServiceWording;
  /** The safetySettings sent when the client turns safety checking off; the Gemini API's categories unless given. */
  permissiveSafetySettings?: readonly SafetySetting[];
  /**
   * The largest reference image the service takes inline, in bytes: a larger one is sent by its
   * URL (fileData) when it has one, else the task fails before any call. No limit unless given.
   */
  maxInlineImageBytes?: number;
  /**
   * Tells an error of obtaining credentials (an OAuth token) from any other error the SDK threw:
   * null for others. Vertex's service-account tokens fail this way before any request is sent.
   */
  credentialFailure?: (error: unknown) => CredentialFailure | null;
}

/** Names for one Google service speaking generateContent. */
export interface GeminiServiceWording {
  /** "Gemini", "Vertex AI". */
  label: string;
  /** What health says the service rejected: "every configured API key". */
  credential: string;
  /** What the operator's log line says it rejected: "the API key". */
  rejected: string;
  /** The settings an operator checks then: "GEMINI_API_KEY / GEMINI_API_KEYS". */
  credentialSetting: string;
}

const GEMINI_WORDING: GeminiServiceWording = {
  label: "Gemini",
  credential: "every configured API key",
  rejected: "the API key",
  credentialSetting: "GEMINI_API_KEY / GEMINI_API_KEYS",
};

/** A failure to obtain credentials, as credentialFailure reads it. */
export interface CredentialFailure {
  /** true: the credentials were refused or are missing (the operator's); false: the token service could not be reached. */
  refused: boolean;
  /** For the log; never the credential itself. */
  detail: string;
}

type AbortCause = "task" | "deadline" | "attempt";

/**
 * The Gemini adapter: ONE upstream attempt per call through the official SDK, every outcome mapped
 * to an ImageOutput or a ProviderError whose retryable/retryAfterMs tell the decorators what to do.
 * Upstream text only ever reaches `detail` and the log.
 */
export class GeminiImageProvider implements ImageProvider {
  readonly name: string;
  readonly #options: GeminiImageProviderOptions;
  readonly #keyPool: KeyPool;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  /** One client per key: the SDK binds the key at construction. */
  readonly #clients = new Map<string, GoogleGenAI>();
  #lastOperatorLogAt: number | null = null;
  #lastRejection: string | null = null;
  /** The public models each upstream id serves, in catalog order, with the variable that maps each. */
  readonly #served: ReadonlyMap<string, readonly PublicModelUse[]>;
  readonly #wording: GeminiServiceWording;
  /** Why each upstream id is missing, set when the upstream said it serves no such model (its listing, or a 404 to a task). */
  readonly #missing = new Map<string, string>();

  constructor(options: GeminiImageProviderOptions) {
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) {
      throw new RangeError(`the Gemini timeout must be a positive number of ms, got ${options.timeoutMs}`);
    }
    this.name = options.name ?? "gemini";
    this.#options = options;
    this.#keyPool = options.keyPool;
    // The logger given already names the provider (createGeminiProvider binds it for every layer).
    this.#logger = options.logger;
    this.#served = publicModelsByUpstream(options.models);
    this.#wording = options.service ?? GEMINI_WORDING;
    this.#clock = options.clock ?? systemClock;
    this.#sleep = options.sleep ?? abortableSleep;
  }

  async generate(request: ImageRequest): Promise<ImageOutput> {
    this.#throwIfOver(request);
    const upstream = this.#upstreamOf(request);
    const parts = this.#imageParts(request);
    const lease = await this.#leaseKey(request);
    await request.onStart?.();
    this.#throwIfOver(request);
    return this.#attempt(request, lease, upstream, parts);
  }

  health(): ProviderHealth {
    if (!this.#keyPool.hasAcceptedKey()) {
      return {
        ok: false,
        reason: `${this.#wording.label} rejected ${this.#wording.credential} (${this.#lastRejection ?? "rejected"}); check ${this.#wording.credentialSetting}`,
      };
    }
    if (this.#missing.size > 0) return { ok: false, reason: [...this.#missing.values()].join("; ") };
    return { ok: true };
  }

  /**
   * Asks the upstream's model listing whether it serves each mapped model: Google shuts model ids
   * down every few months, and a server still naming one fails every task of the models mapped to
   * it. A model it does not serve makes health() say so, naming the id, the public models and the
   * setting to change; an answer that says nothing about the model (a network error, a 5xx, a
   * rejected key) changes nothing.
   */
  async checkUpstream(): Promise<void> {
    await Promise.all([...this.#served.keys()].map((upstream) => this.#checkModel(upstream)));
  }

  async #checkModel(upstream: string): Promise<void> {
    const lease = this.#keyPool.next();
    try {
      await this.#client(lease.key).models.get({
        model: upstream,
        config: { abortSignal: AbortSignal.timeout(this.#options.timeoutMs) },
      });
      if (this.#missing.delete(upstream)) this.#logger.info({ model: upstream }, "Gemini serves the configured model again");
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        this.#markModelMissing(upstream);
        return;
      }
      const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      this.#logger.warn(
        { model: upstream, keyIndex: lease.index, detail },
        "could not ask Gemini whether it serves the configured model",
      );
    }
  }

  #markModelMissing(upstream: string): void {
    if (this.#missing.has(upstream)) return;
    const uses = this.#served.get(upstream) ?? [];
    const reason = missingModelReason(this.#wording.label, upstream, uses);
    this.#missing.set(upstream, reason);
    this.#logger.error(
      {
        operatorError: true,
        model: upstream,
        publicModels: uses.map((use) => use.publicModel),
        settings: [...new Set(uses.map((use) => use.setting))],
      },
      `OPERATOR ACTION NEEDED: ${reason}`,
    );
  }

  /** The upstream id that serves the request's public model; a model the map lacks is this server's fault. */
  #upstreamOf(request: ImageRequest): string {
    const route = this.#options.models[request.model];
    if (route !== undefined) return route.upstream;
    const detail = `no upstream Gemini model is mapped for ${request.model}`;
    this.#logger.error({ taskId: request.taskId, publicModel: request.model, operatorError: true }, detail);
    throw new ProviderError({ code: "PROVIDER_ERROR", message: MESSAGES.misconfigured, detail, operatorError: true });
  }

  #throwIfOver(request: ImageRequest): void {
    if (request.signal.aborted) {
      throw abortedRequestError(request.signal);
    }
    if (this.#clock.now() >= request.deadline) {
      throw deadlinePassedError();
    }
  }

  /**
   * When every key rests after rate limits, waits (once) for the first to wake rather than calling
   * the upstream into another certain 429; the task is still `queuing` meanwhile.
   */
  async #leaseKey(request: ImageRequest): Promise<KeyLease> {
    const lease = this.#keyPool.next();
    if (lease.waitMs === 0) {
      return lease;
    }
    if (this.#clock.now() + lease.waitMs >= request.deadline) {
      throw new ProviderError({
        code: "PROVIDER_ERROR",
        message: MESSAGES.rateLimited,
        retryable: true,
        retryAfterMs: lease.waitMs,
        detail: "every Gemini key is resting after a rate limit",
      });
    }
    try {
      await this.#sleep(lease.waitMs, request.signal);
    } catch (error) {
      if (request.signal.aborted) {
        throw abortedRequestError(request.signal);
      }
      throw error;
    }
    this.#throwIfOver(request);
    return { ...this.#keyPool.next(), waitMs: 0 };
  }

  /**
   * The reference images as request parts, in the client's order: inline, or by URL when larger
   * than the service takes inline. One too large with no URL fails the task before any call.
   */
  #imageParts(request: ImageRequest): Part[] {
    const limit = this.#options.maxInlineImageBytes ?? Number.POSITIVE_INFINITY;
    return (request.images ?? []).map((image, index): Part => {
      if (image.bytes.length <= limit) {
        return { inlineData: { mimeType: image.mimeType, data: image.bytes.toString("base64") } };
      }
      if (image.url !== undefined) return { fileData: { mimeType: image.mimeType, fileUri: image.url } };
      const detail = `reference image ${index + 1} is ${image.bytes.length} bytes, over the ${limit} bytes ${this.#wording.label} takes inline, and has no public URL`;
      this.#logger.warn({ taskId: request.taskId, detail }, "reference image too large to send");
      throw new ProviderError({ code: "PROVIDER_ERROR", message: MESSAGES.imageTooLarge, detail });
    });
  }

  async #attempt(request: ImageRequest, lease: KeyLease, upstream: string, imageParts: Part[]): Promise<ImageOutput> {
    const controller = new AbortController();
    let abortCause: AbortCause | null = null;
    const abortForTask = (): void => {
      abortCause ??= "task";
      controller.abort(request.signal.reason);
    };
    request.signal.addEventListener("abort", abortForTask, { once: true });
    const untilDeadline = request.deadline - this.#clock.now();
    const budget = Math.min(this.#options.timeoutMs, untilDeadline, MAX_TIMER_DELAY_MS);
    const timer = setTimeout(() => {
      abortCause ??= untilDeadline < this.#options.timeoutMs ? "deadline" : "attempt";
      controller.abort();
    }, budget);
    const startedAt = this.#clock.now();

    let response: GenerateContentResponse;
    try {
      response = await this.#client(lease.key).models.generateContent({
        model: upstream,
        // The reference images follow the prompt in the client's order ("the first image").
        contents: [
          {
            role: "user",
            parts: [{ text: request.prompt }, ...imageParts],
          },
        ],
        config: {
          // Text is of no use to a task, and asking for the image alone saves output tokens.
          responseModalities: [Modality.IMAGE],
          ...generateConfigFor(request, upstreamCapabilities(upstream)),
          // Sending nothing keeps the upstream's default safety checking.
          safetySettings: request.safetyChecking
            ? undefined
            : [...(this.#options.permissiveSafetySettings ?? PERMISSIVE_SAFETY_SETTINGS)],
          abortSignal: controller.signal,
        },
      });
    } catch (error) {
      throw this.#failure(error, abortCause, lease, request, upstream);
    } finally {
      clearTimeout(timer);
      request.signal.removeEventListener("abort", abortForTask);
    }
    const upstreamMs = this.#clock.now() - startedAt;
    this.#keyPool.markAccepted(lease.index);
    this.#missing.delete(upstream);

    const outcome = readGeminiResponse(response);
    const logFields = { taskId: request.taskId, model: upstream, keyIndex: lease.index, upstreamMs, responseId: response.responseId };
    switch (outcome.kind) {
      case "image":
        this.#logger.debug(logFields, "Gemini returned an image");
        return { bytes: outcome.bytes, declaredMimeType: outcome.declaredMimeType, upstreamMs };
      case "refused":
        this.#logger.info({ ...logFields, detail: outcome.reason }, "Gemini refused the prompt or image");
        throw new ProviderError({ code: "CONTENT_POLICY", message: MESSAGES.refused, detail: outcome.reason });
      case "no-image":
        this.#logger.warn({ ...logFields, detail: outcome.reason }, "Gemini answered without an image");
        // Retryable, with a budget of one retry set by the factory's retry policy.
        throw new ProviderError({
          code: "INVALID_OUTPUT",
          message: MESSAGES.noImage,
          retryable: true,
          detail: outcome.reason,
        });
    }
  }

  #failure(
    error: unknown,
    abortCause: AbortCause | null,
    lease: KeyLease,
    request: ImageRequest,
    upstream: string,
  ): ProviderError {
    const logFields = { taskId: request.taskId, model: upstream, keyIndex: lease.index };
    // The task's own abort wins over whatever the interrupted call threw.
    if (request.signal.aborted) {
      this.#logger.info(logFields, "Gemini call aborted by the task");
      return abortedRequestError(request.signal);
    }
    if (abortCause === "deadline") {
      this.#logger.warn(logFields, "Gemini call cut short by the task's deadline");
      return deadlinePassedError();
    }
    if (abortCause === "attempt" || isAbortError(error)) {
      this.#logger.warn({ ...logFields, timeoutMs: this.#options.timeoutMs }, "Gemini call timed out");
      return new ProviderError({
        code: "PROVIDER_ERROR",
        message: MESSAGES.slow,
        retryable: true,
        detail: `no answer within ${this.#options.timeoutMs} ms`,
        cause: error,
      });
    }
    if (error instanceof ApiError) {
      return this.#apiFailure(error, lease, request, upstream);
    }
    const credentialFailure = this.#options.credentialFailure?.(error) ?? null;
    if (credentialFailure !== null) {
      return this.#credentialFailure(credentialFailure, error, lease, logFields);
    }
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    if (error instanceof SyntaxError) {
      this.#logger.warn({ ...logFields, detail }, "Gemini answered with unreadable JSON");
      return new ProviderError({ code: "PROVIDER_ERROR", message: MESSAGES.unreadable, retryable: true, detail, cause: error });
    }
    // fetch reports network failures (refused, reset, DNS) as a TypeError carrying the cause.
    if (error instanceof TypeError && error.cause !== undefined) {
      const causeText = error.cause instanceof Error ? error.cause.message : String(error.cause);
      this.#logger.warn({ ...logFields, detail: `${detail} (${causeText})` }, "Gemini could not be reached");
      return new ProviderError({
        code: "PROVIDER_ERROR",
        message: MESSAGES.unreachable,
        retryable: true,
        detail: `${detail} (${causeText})`,
        cause: error,
      });
    }
    this.#logger.error({ ...logFields, err: error }, "Gemini call failed unexpectedly");
    return new ProviderError({ code: "PROVIDER_ERROR", message: MESSAGES.unexpected, detail, cause: error });
  }

  #apiFailure(error: ApiError, lease: KeyLease, request: ImageRequest, upstream: string): ProviderError {
    const body = parseUpstreamErrorBody(error.message);
    const status = error.status;
    const statusText = body.status === null ? `HTTP ${status}` : `HTTP ${status} ${body.status}`;
    const detail = `${statusText}: ${body.message ?? error.message}`;
    const logFields = {
      taskId: request.taskId,
      model: upstream,
      keyIndex: lease.index,
      httpStatus: status,
      upstreamStatus: body.status,
    };

    if (status === 401 || status === 403 || (status === 400 && body.reasons.includes("API_KEY_INVALID"))) {
      this.#keyPool.markRejected(lease.index);
      this.#lastRejection = body.reasons.includes("API_KEY_INVALID") ? "API_KEY_INVALID" : `HTTP ${status}`;
      this.#logOperatorError({ ...logFields, reason: this.#lastRejection, detail });
      // Another key of the pool may still work; with none left, every retry would fail the same way.
      const anotherKey = this.#keyPool.hasAcceptedKey();
      return new ProviderError({
        code: "PROVIDER_ERROR",
        message: MESSAGES.misconfigured,
        retryable: anotherKey,
        retryAfterMs: anotherKey ? 0 : null,
        detail,
        operatorError: true,
        cause: error,
      });
    }
    if (status === 429) {
      // The key rests for the delay asked for; when another key can go now, the retry need not wait.
      if (body.retryDelayMs !== null) {
        this.#keyPool.rest(lease.index, body.retryDelayMs);
      }
      const retryAfterMs = body.retryDelayMs === null ? null : this.#keyPool.msUntilAvailable();
      this.#logger.warn({ ...logFields, retryDelayMs: body.retryDelayMs, detail }, "Gemini rate limit");
      return new ProviderError({
        code: "PROVIDER_ERROR",
        message: MESSAGES.rateLimited,
        retryable: true,
        retryAfterMs,
        detail,
        cause: error,
      });
    }
    if (TRANSIENT_STATUSES.has(status) || status >= 500) {
      this.#logger.warn({ ...logFields, detail }, "Gemini is unavailable");
      return new ProviderError({ code: "PROVIDER_ERROR", message: MESSAGES.unavailable, retryable: true, detail, cause: error });
    }
    this.#logger.error({ ...logFields, detail }, "Gemini rejected the request");
    if (status === 404) this.#markModelMissing(upstream);
    // An unknown model (404) is the operator's setting, not the request: another route may serve.
    return new ProviderError({ code: "PROVIDER_ERROR", message: MESSAGES.rejected, detail, operatorError: status === 404, cause: error });
  }

  /** No token could be had: refused credentials are the operator's; an unreachable token service is transient. */
  #credentialFailure(
    failure: CredentialFailure,
    error: unknown,
    lease: KeyLease,
    logFields: Record<string, unknown>,
  ): ProviderError {
    if (!failure.refused) {
      this.#logger.warn({ ...logFields, detail: failure.detail }, "could not obtain an access token");
      return new ProviderError({ code: "PROVIDER_ERROR", message: MESSAGES.unreachable, retryable: true, detail: failure.detail, cause: error });
    }
    this.#keyPool.markRejected(lease.index);
    this.#lastRejection = failure.detail;
    this.#logOperatorError({ ...logFields, detail: failure.detail });
    return new ProviderError({
      code: "PROVIDER_ERROR",
      message: MESSAGES.misconfigured,
      detail: failure.detail,
      operatorError: true,
      cause: error,
    });
  }

  #logOperatorError(fields: Record<string, unknown>): void {
    const now = this.#clock.now();
    if (this.#lastOperatorLogAt !== null && now - this.#lastOperatorLogAt < OPERATOR_ERROR_LOG_INTERVAL_MS) {
      this.#logger.debug(fields, "Gemini rejected an API key (already reported this minute)");
      return;
    }
    this.#lastOperatorLogAt = now;
    this.#logger.error(
      { ...fields, operatorError: true },
      `OPERATOR ACTION NEEDED: ${this.#wording.label} rejected ${this.#wording.rejected}; check ${this.#wording.credentialSetting}`,
    );
  }

  #client(key: string): GoogleGenAI {
    let client = this.#clients.get(key);
    if (client === undefined) {
      const httpOptions: HttpOptions = { timeout: this.#options.timeoutMs };
      if (this.#options.baseUrl !== undefined && this.#options.baseUrl !== "") {
        httpOptions.baseUrl = this.#options.baseUrl;
      }
      if (this.#options.apiVersion !== undefined && this.#options.apiVersion !== "") {
        httpOptions.apiVersion = this.#options.apiVersion;
      }
      httpOptions.fetch = this.#options.fetch ?? bufferedFetch;
      // vertexai: false so a stray GOOGLE_GENAI_USE_VERTEXAI in the environment cannot reroute us.
      client = this.#options.createClient?.(key, httpOptions) ?? new GoogleGenAI({ apiKey: key, vertexai: false, httpOptions });
      this.#clients.set(key, client);
    }
    return client;
  }
}

/** One public model an upstream id serves, and the variable that maps it there. */
interface PublicModelUse {
  publicModel: string;
  setting: string;
}

function publicModelsByUpstream(models: GeminiModelMap): Map<string, PublicModelUse[]> {
  const served = new Map<string, PublicModelUse[]>();
  for (const [publicModel, route] of Object.entries(models)) {
    const uses = served.get(route.upstream) ?? [];
    uses.push({ publicModel, setting: route.setting });
    served.set(route.upstream, uses);
  }
  return served;
}

/**
 * The operator's sentence for an upstream id the upstream does not serve: which public models
 * it leaves without a model, and what to set for each (GEMINI_MODEL names one model, the map
 * names several).
 */
function missingModelReason(label: string, upstream: string, uses: readonly PublicModelUse[]): string {
  const settings = [...new Set(uses.map((use) => use.setting))];
  const fixes = settings.map((setting) => {
    if (setting !== MODEL_MAP_SETTING) return `${setting} to a model it serves`;
    const mapped = uses.filter((use) => use.setting === setting).map((use) => use.publicModel);
    return `${setting} to map ${mapped.join(", ")} to a model it serves`;
  });
  const publicModels = uses.map((use) => use.publicModel).join(", ");
  return `${label} serves no model ${upstream} (${publicModels}); set ${fixes.join(" and ")}`;
}

/** The SDK's own per-attempt timeout and undici's aborts surface as AbortError/TimeoutError. */
function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}
