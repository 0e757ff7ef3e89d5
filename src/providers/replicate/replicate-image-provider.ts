import type { Logger } from "pino";
import { systemClock, type Clock } from "../../domain/clock.ts";
import { ProviderError, type ImageOutput, type ImageProvider, type ImageRequest, type ProviderHealth } from "../image-provider.ts";
import { abortableSleep, type Sleep } from "../sleep.ts";
import { AttemptScope, throwIfOver, transportFailure, UPSTREAM_MESSAGES, type LogFields } from "../upstream-attempt.ts";
import { callJson, downloadImage, firstString, isRecord, retryAfterMs, sendBestEffort, UpstreamHttpError } from "../upstream-http.ts";
import { classifyPredictionError, readReplicateErrorBody } from "./replicate-errors.ts";
import { replicateInput, replicateModelPath } from "./replicate-models.ts";

export const REPLICATE_BASE_URL = "https://api.replicate.com";
const DEFAULT_POLL_INTERVAL_MS = 500;
/** The longest `Prefer: wait` Replicate honours, in seconds. */
const MAX_WAIT_SECONDS = 60;
/** Past the attempt's budget, the time Replicate's own deadline (Cancel-After) leaves before it cancels. */
const CANCEL_AFTER_GRACE_SECONDS = 5;
/** A rejected token repeats on every task; once a minute is loud enough. */
const OPERATOR_LOG_INTERVAL_MS = 60_000;

export interface ReplicateImageProviderOptions {
  /** The name in configuration and logs; "replicate" unless a route holds several. */
  name?: string;
  apiToken: string;
  /** Replicate's model for each public model: {"nano-banana-pro": "google/nano-banana-pro"}. */
  models: Readonly<Record<string, string>>;
  /** Another server speaking Replicate's API (a proxy, the fake); api.replicate.com when unset. */
  baseUrl?: string;
  /** Budget of one attempt: create, polls and download together. */
  timeoutMs: number;
  pollIntervalMs?: number;
  /** Already bound to the provider's name. */
  logger: Logger;
  clock?: Clock;
  sleep?: Sleep;
  fetch?: typeof fetch;
}

/** The fields of a prediction object the adapter reads. */
interface Prediction {
  id: string;
  status: string;
  output: unknown;
  error: string | null;
  getUrl: string;
  cancelUrl: string;
}

type Phase = "create" | "poll" | "download";

/** Statuses after which a prediction changes no more. */
const TERMINAL: ReadonlySet<string> = new Set(["succeeded", "failed", "canceled", "aborted"]);

/**
 * Replicate's predictions API as one upstream attempt per call: create the prediction holding the
 * connection open (`Prefer: wait`, within the attempt's budget), poll it when it is not done by
 * then, download the output file. A prediction given up is canceled on Replicate's side too.
 */
export class ReplicateImageProvider implements ImageProvider {
  readonly name: string;
  readonly #options: ReplicateImageProviderOptions;
  readonly #baseUrl: string;
  readonly #pollIntervalMs: number;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  readonly #fetch: typeof fetch;
  #operatorProblem: string | null = null;
  #lastOperatorLogAt: number | null = null;

  constructor(options: ReplicateImageProviderOptions) {
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) {
      throw new RangeError(`the Replicate timeout must be a positive number of ms, got ${options.timeoutMs}`);
    }
    if (options.apiToken.trim() === "") throw new RangeError("the Replicate upstream needs an API token");
    this.name = options.name ?? "replicate";
    this.#options = options;
    this.#baseUrl = (options.baseUrl ?? REPLICATE_BASE_URL).replace(/\/+$/, "");
    this.#pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#sleep = options.sleep ?? abortableSleep;
    this.#fetch = options.fetch ?? fetch;
  }

  async generate(request: ImageRequest): Promise<ImageOutput> {
    throwIfOver(request, this.#clock);
    const model = this.#modelOf(request);
    await request.onStart?.();
    throwIfOver(request, this.#clock);
    return this.#attempt(request, model);
  }

  health(): ProviderHealth {
    if (this.#operatorProblem !== null) return { ok: false, reason: this.#operatorProblem };
    return { ok: true };
  }

  #modelOf(request: ImageRequest): string {
    const model = this.#options.models[request.model];
    if (model !== undefined && replicateModelPath(model) !== null) return model;
    const detail =
      model === undefined ? `no Replicate model is mapped for ${request.model}` : `the Replicate model ${model} is not of the form owner/name`;
    this.#logger.error({ taskId: request.taskId, publicModel: request.model, operatorError: true }, detail);
    throw new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.misconfigured, detail, operatorError: true });
  }

  get #auth(): Record<string, string> {
    return { authorization: `Bearer ${this.#options.apiToken}` };
  }

  async #attempt(request: ImageRequest, model: string): Promise<ImageOutput> {
    const scope = new AttemptScope(request, this.#options.timeoutMs, this.#clock);
    const fields: LogFields = { taskId: request.taskId, model };
    let prediction: Prediction | null = null;
    let phase: Phase = "create";
    try {
      prediction = await this.#create(request, model, scope);
      fields.predictionId = prediction.id;
      phase = "poll";
      let outputUrl = this.#outcomeOf(prediction, fields);
      while (outputUrl === null) {
        await this.#sleep(this.#pollIntervalMs, scope.signal);
        prediction = this.#read(
          await callJson(this.#fetch, prediction.getUrl, { method: "GET", headers: this.#auth, signal: scope.signal, what: "Replicate poll" }),
        );
        outputUrl = this.#outcomeOf(prediction, fields);
      }
      phase = "download";
      const download = await downloadImage(this.#fetch, outputUrl, scope.signal, "Replicate delivery");
      const upstreamMs = scope.elapsedMs();
      this.#operatorProblem = null;
      this.#logger.debug({ ...fields, upstreamMs }, "Replicate returned an image");
      return { bytes: download.bytes, declaredMimeType: download.contentType, upstreamMs };
    } catch (error) {
      // A prediction still running when we give up would run (and be billed) for nothing.
      if (prediction !== null && !TERMINAL.has(prediction.status)) this.#cancel(prediction, fields);
      if (error instanceof UpstreamHttpError && !scope.signal.aborted) throw this.#httpFailure(error, phase, fields);
      throw transportFailure(error, scope, request, { service: "Replicate", timeoutMs: this.#options.timeoutMs, logger: this.#logger, fields });
    } finally {
      scope.close();
    }
  }

  async #create(request: ImageRequest, model: string, scope: AttemptScope): Promise<Prediction> {
    const path = replicateModelPath(model) as { owner: string; name: string };
    const remainingMs = scope.remainingMs();
    // A task aborted while this call is held open never learns the prediction's id, so cannot
    // cancel it: Replicate cancels it itself shortly after the attempt would have given up.
    const headers: Record<string, string> = {
      ...this.#auth,
      "cancel-after": `${Math.ceil(remainingMs / 1000) + CANCEL_AFTER_GRACE_SECONDS}s`,
    };
    // Held open no longer than Replicate allows nor than the attempt has left; under a second, not at all.
    const waitSeconds = Math.min(MAX_WAIT_SECONDS, Math.floor(remainingMs / 1000));
    if (waitSeconds >= 1) headers.prefer = `wait=${waitSeconds}`;
    const answer = await callJson(this.#fetch, `${this.#baseUrl}/v1/models/${path.owner}/${path.name}/predictions`, {
      method: "POST",
      headers,
      body: { input: replicateInput(request, model) },
      signal: scope.signal,
      what: "Replicate create",
    });
    return this.#read(answer);
  }

  #read(answer: unknown): Prediction {
    if (!isRecord(answer) || typeof answer.id !== "string" || typeof answer.status !== "string") {
      throw unreadable("the answer is not a prediction (no id or status)");
    }
    const urls = isRecord(answer.urls) ? answer.urls : {};
    const own = `${this.#baseUrl}/v1/predictions/${encodeURIComponent(answer.id)}`;
    return {
      id: answer.id,
      status: answer.status,
      output: answer.output,
      error: typeof answer.error === "string" ? answer.error : answer.error == null ? null : JSON.stringify(answer.error),
      getUrl: typeof urls.get === "string" ? urls.get : own,
      cancelUrl: typeof urls.cancel === "string" ? urls.cancel : `${own}/cancel`,
    };
  }

  /** The output's URL once there is one; null while the prediction runs; a ProviderError when it ended without. */
  #outcomeOf(prediction: Prediction, fields: LogFields): string | null {
    const output = firstString(prediction.output);
    switch (prediction.status) {
      case "succeeded":
        if (output !== null) return output;
        this.#logger.warn(fields, "Replicate's prediction succeeded without an output");
        // Retryable, with a budget of one retry set by the layers' attempt limits.
        throw new ProviderError({ code: "INVALID_OUTPUT", message: UPSTREAM_MESSAGES.noImage, retryable: true, detail: "succeeded with no output" });
      case "failed":
        throw this.#predictionFailure(prediction.error ?? "failed without an error", fields);
      case "canceled":
      case "aborted": {
        // Not by us (we cancel only what we leave): someone or a deadline stopped it upstream.
        const detail = `the prediction was ${prediction.status} upstream`;
        this.#logger.warn({ ...fields, detail }, "Replicate stopped the prediction");
        throw new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.unavailable, retryable: true, detail });
      }
      case "starting":
      case "processing":
        // Replicate answers file outputs as soon as they exist, sometimes before the status is final.
        return output;
      default:
        throw unreadable(`unknown prediction status ${JSON.stringify(prediction.status)}`);
    }
  }

  #predictionFailure(error: string, fields: LogFields): ProviderError {
    const logFields = { ...fields, detail: error };
    switch (classifyPredictionError(error)) {
      case "content-policy":
        this.#logger.info(logFields, "Replicate refused the prompt or image");
        return new ProviderError({ code: "CONTENT_POLICY", message: UPSTREAM_MESSAGES.refused, detail: error });
      case "input":
        this.#logger.warn(logFields, "Replicate's model could not use the input");
        return new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.rejected, detail: error });
      case "model":
        this.#logger.warn(logFields, "Replicate's model failed");
        return new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.failed, retryable: true, detail: error });
    }
  }

  #cancel(prediction: Prediction, fields: LogFields): void {
    sendBestEffort(this.#fetch, prediction.cancelUrl, { method: "POST", headers: this.#auth }, this.#logger, fields);
  }

  #httpFailure(error: UpstreamHttpError, phase: Phase, fields: LogFields): ProviderError {
    const status = error.status;
    const body = readReplicateErrorBody(error.json());
    const detail = `${phase}: HTTP ${status}: ${body.message ?? error.body}`;
    const logFields = { ...fields, phase, httpStatus: status };
    if (phase === "download") {
      this.#logger.warn({ ...logFields, detail }, "Replicate's output could not be downloaded");
      return new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.unavailable, retryable: true, detail, cause: error });
    }
    const operator = operatorProblem(status, phase, String(fields.model));
    if (operator !== null) {
      this.#operatorProblem = operator;
      this.#logOperatorError({ ...logFields, detail }, `OPERATOR ACTION NEEDED: ${operator}`);
      return new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.misconfigured, detail, operatorError: true, cause: error });
    }
    if (status === 429) {
      const delay = retryAfterMs(error.headers, body.retryAfterSeconds);
      this.#logger.warn({ ...logFields, retryAfterMs: delay, detail }, "Replicate rate limit");
      return new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.rateLimited, retryable: true, retryAfterMs: delay, detail, cause: error });
    }
    if (status >= 500 || status === 408 || status === 404) {
      // 404 on a poll: the prediction is gone; a new attempt creates another.
      this.#logger.warn({ ...logFields, detail }, "Replicate is unavailable");
      return new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.unavailable, retryable: true, detail, cause: error });
    }
    this.#logger.error({ ...logFields, detail }, "Replicate rejected the request");
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

/** The operator's sentence for a status that says this server's setup is wrong, or null. */
function operatorProblem(status: number, phase: Phase, model: string): string | null {
  if (status === 401 || status === 403) return `Replicate rejected the API token (HTTP ${status}); check the upstream's apiToken`;
  if (status === 402) return "Replicate refused for billing (HTTP 402); check the account's credit";
  if (status === 404 && phase === "create") return `Replicate serves no model ${model}; check the upstream's models`;
  return null;
}

function unreadable(detail: string): ProviderError {
  return new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.unreadable, retryable: true, detail });
}
