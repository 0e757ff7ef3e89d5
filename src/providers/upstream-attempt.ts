import type { Logger } from "pino";
import type { Clock } from "../domain/clock.ts";
import { ProviderError, type ImageRequest } from "./image-provider.ts";
import { abortedRequestError, deadlinePassedError } from "./request-abort.ts";

/** Node fires longer timers at once, so a far deadline is capped to the longest delay it honours. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** Why an attempt's own signal fired: the task's signal, the task's deadline, or the attempt's budget. */
export type AbortCause = "task" | "deadline" | "attempt";

/** Client-facing sentences shared by the adapters that speak plain HTTP; upstream text goes to `detail`. */
export const UPSTREAM_MESSAGES = {
  refused: "The prompt or the generated image was refused by the model's safety checking.",
  noImage: "The model did not return an image.",
  rateLimited: "The image model is receiving too many requests; please try again later.",
  unavailable: "The image model is temporarily unavailable.",
  unreachable: "The image model could not be reached.",
  slow: "The image model did not answer in time.",
  unreadable: "The image model returned an answer that could not be read.",
  rejected: "The image model rejected the request.",
  misconfigured: "The image service is not configured correctly on this server.",
  failed: "The image model failed to make the image.",
  unexpected: "The image model failed unexpectedly.",
} as const;

/**
 * One upstream attempt's lifetime: a signal that fires on the task's abort, at the task's deadline
 * or at the end of the attempt's budget (whichever comes first), remembering which of them it was.
 * Every request of the attempt (submit, polls, download) runs under that one signal, so the
 * budget bounds the whole of it.
 */
export class AttemptScope {
  readonly signal: AbortSignal;
  readonly startedAt: number;
  readonly #controller = new AbortController();
  readonly #request: ImageRequest;
  readonly #clock: Clock;
  readonly #endsAt: number;
  readonly #timer: NodeJS.Timeout;
  readonly #onTaskAbort: () => void;
  #cause: AbortCause | null = null;

  constructor(request: ImageRequest, timeoutMs: number, clock: Clock) {
    this.#request = request;
    this.#clock = clock;
    this.signal = this.#controller.signal;
    this.startedAt = clock.now();
    const untilDeadline = request.deadline - this.startedAt;
    const budget = Math.max(0, Math.min(timeoutMs, untilDeadline, MAX_TIMER_DELAY_MS));
    this.#endsAt = this.startedAt + budget;
    this.#onTaskAbort = () => {
      this.#cause ??= "task";
      this.#controller.abort(request.signal.reason);
    };
    request.signal.addEventListener("abort", this.#onTaskAbort, { once: true });
    this.#timer = setTimeout(() => {
      this.#cause ??= untilDeadline < timeoutMs ? "deadline" : "attempt";
      this.#controller.abort();
    }, budget);
  }

  get cause(): AbortCause | null {
    return this.#cause;
  }

  /** Milliseconds left of the attempt's budget (never below 0). */
  remainingMs(): number {
    return Math.max(0, this.#endsAt - this.#clock.now());
  }

  elapsedMs(): number {
    return this.#clock.now() - this.startedAt;
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#request.signal.removeEventListener("abort", this.#onTaskAbort);
  }
}

/** What the log lines of one attempt carry. */
export type LogFields = Record<string, unknown>;

/**
 * The ProviderError for anything an attempt threw that is not an upstream answer: the task's
 * abort (CANCELED, or TIMEOUT at its deadline), the attempt's budget running out, unreadable
 * JSON, a network failure. `service` names the upstream in log lines ("fal", "Replicate").
 */
export function transportFailure(
  error: unknown,
  scope: AttemptScope,
  request: ImageRequest,
  context: { service: string; timeoutMs: number; logger: Logger; fields: LogFields },
): ProviderError {
  const { service, timeoutMs, logger, fields } = context;
  if (error instanceof ProviderError) return error;
  // The task's own abort wins over whatever the interrupted call threw.
  if (request.signal.aborted) {
    logger.info(fields, `${service} call aborted by the task`);
    return abortedRequestError(request.signal);
  }
  if (scope.cause === "deadline") {
    logger.warn(fields, `${service} call cut short by the task's deadline`);
    return deadlinePassedError();
  }
  if (scope.cause === "attempt" || isAbortError(error)) {
    logger.warn({ ...fields, timeoutMs }, `${service} call timed out`);
    return new ProviderError({
      code: "PROVIDER_ERROR",
      message: UPSTREAM_MESSAGES.slow,
      retryable: true,
      detail: `no image within ${timeoutMs} ms`,
      cause: error,
    });
  }
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  if (error instanceof SyntaxError) {
    logger.warn({ ...fields, detail }, `${service} answered with unreadable JSON`);
    return new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.unreadable, retryable: true, detail, cause: error });
  }
  // fetch reports network failures (refused, reset, DNS) as a TypeError carrying the cause.
  if (error instanceof TypeError && error.cause !== undefined) {
    const causeText = error.cause instanceof Error ? error.cause.message : String(error.cause);
    logger.warn({ ...fields, detail: `${detail} (${causeText})` }, `${service} could not be reached`);
    return new ProviderError({
      code: "PROVIDER_ERROR",
      message: UPSTREAM_MESSAGES.unreachable,
      retryable: true,
      detail: `${detail} (${causeText})`,
      cause: error,
    });
  }
  logger.error({ ...fields, err: error }, `${service} call failed unexpectedly`);
  return new ProviderError({ code: "PROVIDER_ERROR", message: UPSTREAM_MESSAGES.unexpected, detail, cause: error });
}

/** Throws the task's abort or deadline error when the request may not start another upstream call. */
export function throwIfOver(request: ImageRequest, clock: Clock): void {
  if (request.signal.aborted) throw abortedRequestError(request.signal);
  if (clock.now() >= request.deadline) throw deadlinePassedError();
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}
