import { expect } from "vitest";
import { ProviderError, type ImageRequest } from "../../src/providers/image-provider.ts";

/** An ImageRequest for an adapter test: nano-banana-pro, 16:9 at 2K, safety on, a minute to go. */
export function imageRequest(overrides: Partial<ImageRequest> = {}): ImageRequest {
  return {
    taskId: "task_adapter",
    model: "nano-banana-pro",
    prompt: "a banana in the rain",
    aspectRatio: "16:9",
    resolution: "2K",
    safetyChecking: true,
    signal: new AbortController().signal,
    deadline: Date.now() + 60_000,
    ...overrides,
  };
}

/** The ProviderError a call failed with; fails the test if it succeeded or threw anything else. */
export async function providerFailure(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}
