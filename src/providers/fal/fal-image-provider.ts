import type { Logger } from "pino";
import { systemClock, type Clock } from "../../domain/clock.ts";
import { ProviderError, type ImageOutput, type ImageProvider, type ImageRequest, type ProviderHealth } from "../image-provider.ts";
import { abortableSleep, type Sleep } from "../sleep.ts";
import { AttemptScope, throwIfOver, transportFailure, UPSTREAM_MESSAGES, type LogFields } from "../upstream-attempt.ts";
import { callJson, downloadImage, isRecord, retryAfterMs, sendBestEffort, UpstreamHttpError } from "../upstream-http.ts";
import { readFalErrorBody } from "./fal-errors.ts";
import { falEndpoint, falInput } from "./fal-models.ts";

export const FAL_BASE_URL = "https://queue.fal.run";
const DEFAULT_POLL_INTERVAL_MS = 500;
/** A rejected key repeats on every task; once a minute is loud enough. */
const OPERATOR_LOG_INTERVAL_MS = 60_000;

export interface FalImageProviderOptions {
  /** The name in configuration and logs; "fal" unless a route holds several. */
  name?: string;
  apiKey: string;
  /** fal's endpoint id for each public model: {"nano-banana-pro": "fal-ai/nano-banana-pro"}. */
  models: Readonly<Record<string, string>>;
  /** Another server speaking fal's queue API (a proxy, the fake); queue.fal.run when unset. */
  baseUrl?: string;
  /** Budget of one attempt: submit, polls, result and download together. */
  timeoutMs: number;
  pollIntervalMs?: number;
  /** Already bound to the provider's name. */
  logger: Logger;
  clock?: Clock;
  sleep?: Sleep;
  fetch?: typeof fetch;
}

/** The URLs fal's queue answers a submit with. */
interface FalJob {
  requestId: string;
  statusUrl: string;
  responseUrl: string;
  cancelUrl: string;
}

/** Where an answer came from, which decides what a 404 or a 401 means. */
type Phase = "submit" | "status" | "result" | "download";

/**
 * fal's queue API as one upstream attempt per call: submit, poll the status until COMPLETED,
 * read the result, download the image from fal's CDN, all within one budget. A job given up
 * (canceled, timed out, failed on our side) is canceled on fal's side too, so it stops costing.
 */
export class FalImageProvider implements ImageProvider {
  readonly name: string;
  readonly #options: FalImageProviderOptions;
  readonly #baseUrl: string;
  readonly #pollIntervalMs: number;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  readonly #fetch: typeof fetch;
  #rejectedKey: string | null = null;
  #lastOperatorLogAt: number | null = null;

  constructor(options: FalImageProviderOptions) {
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) {
      throw new RangeError(`the fal timeout must be a positive number of ms, got ${options.timeoutMs}`);
    }
    if (options.apiKey.trim() === "") throw new RangeError("the fal upstream needs an API key");
    this.name = options.name ?? "fal";
    this.#options = options;
    this.#baseUrl = (options.baseUrl ?? FAL_BASE_URL).replace(/\/+$/, "");
    this.#pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#sleep = options.sleep ?? abortableSleep;
    this.#fetch = options.fetch ?? fetch;
  }

  async generate(request: ImageRequest): Promise<ImageOutput> {
    throwIfOver(request, this.#clock);
    const model = this.#modelOf(request);
    const endpoint = falEndpoint(model, (request.images ?? []).length > 0);
    await request.onStart?.();
    throwIfOver(request, this.#clock);
    return this.#attempt(request, endpoint);
  }

  health(): ProviderHealth {
    if (this.#rejectedKey !== null) return { ok: false, reason: `fal rejected the API key (${this.#rejectedKey}); check the upstream's apiKey` };
    return { ok: true };
  }

  #modelOf(request: ImageRequest): string {
    const model = this.#options.models[request.model];
    if (model !== undefined && model !== "") return model;
    const detail = `no fal endpoint is mapped for ${request.model}`;
    this.#logger.error({ taskId: request.taskId, publicModel: request.model, operatorError: true }, detail);
    throw new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.misconfigured, detail, operatorError: true });
  }

  get #auth(): Record<string, string> {
    return { authorization: `Key ${this.#options.apiKey}` };
  }

  async #attempt(request: ImageRequest, endpoint: string): Promise<ImageOutput> {
    const scope = new AttemptScope(request, this.#options.timeoutMs, this.#clock);
    const fields: LogFields = { taskId: request.taskId, model: endpoint };
    let job: FalJob | null = null;
    let completed = false;
    let phase: Phase = "submit";
    try {
      job = await this.#submit(request, endpoint, scope);
      fields.requestId = job.requestId;
      phase = "status";
      await this.#untilCompleted(job, scope, fields);
      completed = true;
      phase = "result";
      const result = await callJson(this.#fetch, job.responseUrl, { method: "GET", headers: this.#auth, signal: scope.signal, what: "fal result" });
      const image = this.#imageOf(result, fields);
      phase = "download";
      const download = await downloadImage(this.#fetch, image.url, scope.signal, "fal CDN");
      const upstreamMs = scope.elapsedMs();
      this.#rejectedKey = null;
      this.#logger.debug({ ...fields, upstreamMs }, "fal returned an image");
      return { bytes: download.bytes, declaredMimeType: image.contentType ?? download.contentType, upstreamMs };
    } catch (error) {
      // A job still queued or running when we give up would run (and be billed) for nothing.
      if (job !== null && !completed) this.#cancel(job, fields);
      if (error instanceof UpstreamHttpError && !scope.signal.aborted) throw this.#httpFailure(error, phase, fields);
      throw transportFailure(error, scope, request, { service: "fal", timeoutMs: this.#options.timeoutMs, logger: this.#logger, fields });
    } finally {
      scope.close();
    }
  }

  async #submit(request: ImageRequest, endpoint: string, scope: AttemptScope): Promise<FalJob> {
    const answer = await callJson(this.#fetch, `${this.#baseUrl}/${endpoint}`, {
      method: "POST",
      headers: this.#auth,
      body: falInput(request, endpoint),
      signal: scope.signal,
      what: "fal submit",
    });
    const job = readJob(answer);
    if (job === null) throw unreadable("the submit answer lacks request_id or the queue URLs");
    return job;
  }

  /** Polls the status URL until COMPLETED; the attempt's signal ends the wait on abort or timeout. */
  async #untilCompleted(job: FalJob, scope: AttemptScope, fields: LogFields): Promise<void> {
    for (;;) {
      const answer = await callJson(this.#fetch, job.statusUrl, { method: "GET", headers: this.#auth, signal: scope.signal, what: "fal status" });
      const status = isRecord(answer) ? answer.status : undefined;
      if (status === "COMPLETED") return;
      if (status !== "IN_QUEUE" && status !== "IN_PROGRESS") throw unreadable(`unknown queue status ${JSON.stringify(status)}`);
      const position = isRecord(answer) ? answer.queue_position : undefined;
      this.#logger.trace({ ...fields, status, queuePosition: position }, "fal job not done yet");
      await this.#sleep(this.#pollIntervalMs, scope.signal);
    }
  }

  #imageOf(result: unknown, fields: LogFields): { url: string; contentType: string | null } {
    const images = isRecord(result) ? result.images : undefined;
    const first: unknown = Array.isArray(images) ? images[0] : undefined;
    if (isRecord(first) && typeof first.url === "string" && first.url !== "") {
      return { url: first.url, contentType: typeof first.content_type === "string" ? first.content_type : null };
    }
    const description = isRecord(result) && typeof result.description === "string" ? result.description : null;
    const detail = `the result has no image${description === null ? "" : `: ${description}`}`;
    this.#logger.warn({ ...fields, detail }, "fal answered without an image");
    // Retryable, with a budget of one retry set by the layers' attempt limits.
    throw new ProviderError({ code: "INVALID_OUTPUT", message: UPSTREAM_MESSAGES.noImage, retryable: true, detail });
  }

  #cancel(job: FalJob, fields: LogFields): void {
    sendBestEffort(this.#fetch, job.cancelUrl, { method: "PUT", headers: this.#auth }, this.#logger, fields);
  }

  #httpFailure(error: UpstreamHttpError, phase: Phase, fields: LogFields): ProviderError {
    const status = error.status;
    const body = readFalErrorBody(error.json());
    const detail = `${phase}: HTTP ${status}: ${body.message ?? error.body}`;
    const logFields = { ...fields, phase, httpStatus: status, errorTypes: body.types };
    if (phase === "download") {
      // The CDN lost or refused the file: a new attempt makes a new one.
      this.#logger.warn({ ...logFields, detail }, "fal's image could not be downloaded");
      return new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.unavailable, retryable: true, detail, cause: error });
    }
    if (status === 401 || status === 403) {
      this.#rejectedKey = `HTTP ${status}`;
      this.#logOperatorError({ ...logFields, detail }, "OPERATOR ACTION NEEDED: fal rejected the API key");
      return new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.misconfigured, detail, operatorError: true, cause: error });
    }
    if (status === 429) {
      const delay = retryAfterMs(error.headers);
      this.#logger.warn({ ...logFields, retryAfterMs: delay, detail }, "fal rate limit");
      return new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.rateLimited, retryable: true, retryAfterMs: delay, detail, cause: error });
    }
    if (body.contentPolicy && (status === 400 || status === 422)) {
      this.#logger.info({ ...logFields, detail }, "fal refused the prompt or image");
      return new ProviderError({ code: "CONTENT_POLICY", message: UPSTREAM_MESSAGES.refused, detail, cause: error });
    }
    if (status === 404 && phase === "submit") {
      this.#logOperatorError({ ...logFields, detail }, `OPERATOR ACTION NEEDED: fal serves no endpoint ${String(fields.model)}`);
      return new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.misconfigured, detail, operatorError: true, cause: error });
    }
    if (status >= 500 || status === 408 || status === 404) {
      // 404 after a submit: fal lost the request; a new attempt submits anew.
      this.#logger.warn({ ...logFields, detail }, "fal is unavailable");
      return new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.unavailable, retryable: true, detail, cause: error });
    }
    this.#logger.error({ ...logFields, detail }, "fal rejected the request");
    return new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.rejected, detail, cause: error });
  }

  #logOperatorError(fields: LogFields, message: string): void {
    const now = this.#clock.now();
    if (this.#lastOperatorLogAt !== null && now - this.#lastOperatorLogAt < OPERATOR_LOG_INTERVAL_MS) {
      this.#logger.debug(fields, `${message} (already reported this minute)`);
      return;
    }
    this.#lastOperatorLogAt = now;
    this.#logger.error({ ...fields, operatorError: true }, message);
  }
}

function readJob(answer: unknown): FalJob | null {
  if (!isRecord(answer)) return null;
  const { request_id: requestId, status_url: statusUrl, response_url: responseUrl, cancel_url: cancelUrl } = answer;
  if (typeof requestId !== "string" || typeof statusUrl !== "string" || typeof responseUrl !== "string" || typeof cancelUrl !== "string") {
    return null;
  }
  return { requestId, statusUrl, responseUrl, cancelUrl };
}

function unreadable(detail: string): ProviderError {
  return new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.unreadable, retryable: true, detail });
}
