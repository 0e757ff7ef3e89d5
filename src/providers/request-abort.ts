import { ProviderError } from "./image-provider.ts";

/**
 * The worker aborts the task's signal with a TimeoutError when the task's deadline passes and with
 * anything else on cancellation; the two must reach the client as different fail codes.
 */
export function isTimeoutReason(reason: unknown): boolean {
  return reason instanceof Error && reason.name === "TimeoutError";
}

/** The error for a task whose own signal was aborted: CANCELED, or TIMEOUT when its deadline passed. */
export function abortedRequestError(signal: AbortSignal): ProviderError {
  if (isTimeoutReason(signal.reason)) {
    return deadlinePassedError();
  }
  return new ProviderError({ code: "CANCELED", message: "The task was canceled before the image was ready." });
}

/** The error for a task whose deadline passed before the image was ready. */
export function deadlinePassedError(): ProviderError {
  return new ProviderError({ code: "TIMEOUT", message: "The image was not ready before the task's time limit." });
}
