import type { ImageRequest } from "./image-provider.ts";

/**
 * Returns the request with its onStart wrapped so that only the first call runs it. Decorators that
 * call their inner provider more than once (retries, fallbacks) pass the wrapped request to every
 * call, so the leaf adapter can call onStart before each upstream call and the worker still sees
 * it exactly once. Later calls wait for the first call's promise, so a failed onStart fails them
 * too, and then run onRetry: the worker hears of every upstream call, the first as a start.
 */
export function withSingleStart(request: ImageRequest): ImageRequest {
  const { onStart, onRetry } = request;
  if (onStart === undefined) {
    return request;
  }
  let started: Promise<void> | null = null;
  return {
    ...request,
    onStart: async () => {
      if (started === null) {
        started = onStart();
        return started;
      }
      await started;
      await onRetry?.();
    },
  };
}
