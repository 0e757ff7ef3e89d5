import { describe, expect, it } from "vitest";
import { ProviderError, type ImageRequest } from "../../src/providers/image-provider.ts";
import { ATTEMPTS_SPENT_MESSAGE, RetryingImageProvider, type RetryPolicy } from "../../src/providers/retrying-image-provider.ts";
import type { Sleep } from "../../src/providers/sleep.ts";
import { ScriptedImageProvider, scriptedImage } from "../fakes/scripted-image-provider.ts";

const POLICY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 1_000, maxDelayMs: 5_000 };

function harness(options: { policy?: Partial<RetryPolicy>; random?: () => number; now?: number } = {}) {
  const time = { now: options.now ?? 1_000_000, sleeps: [] as number[] };
  const sleep: Sleep = async (ms) => {
    time.sleeps.push(ms);
    time.now += ms;
  };
  const wrap = (inner: ScriptedImageProvider) =>
    new RetryingImageProvider(inner, {
      policy: { ...POLICY, ...options.policy },
      clock: { now: () => time.now },
      sleep,
      random: options.random ?? (() => 0.5),
    });
  const request = (overrides: Partial<ImageRequest> = {}): ImageRequest => ({
    taskId: "task_unit",
    model: "nano-banana-text-to-image",
    prompt: "p",
    aspectRatio: "1:1",
    safetyChecking: true,
    signal: new AbortController().signal,
    deadline: time.now + 600_000,
    ...overrides,
  });
  return { time, wrap, request };
}

const unavailable = () => new ProviderError({ code: "PROVIDER_ERROR", message: "unavailable", retryable: true });
const noImage = () => new ProviderError({ code: "INVALID_OUTPUT", message: "no image", retryable: true });

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => null,
    (error: unknown) => error,
  );
}

describe("RetryingImageProvider", () => {
  it("returns the first success without sleeping", async () => {
    const { time, wrap, request } = harness();
    const inner = new ScriptedImageProvider("stub");

    const output = await wrap(inner).generate(request());

    expect(output).toEqual(scriptedImage());
    expect(inner.calls).toHaveLength(1);
    expect(time.sleeps).toEqual([]);
  });

  it("retries retryable errors with full-jitter exponential backoff capped at maxDelayMs", async () => {
    const { time, wrap, request } = harness({ policy: { maxAttempts: 5 }, random: () => 0.5 });
    const inner = new ScriptedImageProvider("stub", [unavailable(), unavailable(), unavailable(), unavailable()]);

    await wrap(inner).generate(request());

    expect(time.sleeps).toEqual([500, 1_000, 2_000, 2_500]);
    expect(inner.calls).toHaveLength(5);
  });

  it("waits the error's retryAfterMs instead of the backoff", async () => {
    const { time, wrap, request } = harness();
    const limited = new ProviderError({ code: "PROVIDER_ERROR", message: "m", retryable: true, retryAfterMs: 41_000 });

    await wrap(new ScriptedImageProvider("stub", [limited])).generate(request());

    expect(time.sleeps).toEqual([41_000]);
  });

  it("retries at once when retryAfterMs is 0", async () => {
    const { time, wrap, request } = harness();
    const elsewhere = new ProviderError({ code: "PROVIDER_ERROR", message: "m", retryable: true, retryAfterMs: 0 });
    const inner = new ScriptedImageProvider("stub", [elsewhere]);

    await wrap(inner).generate(request());

    expect(time.sleeps).toEqual([]);
    expect(inner.calls).toHaveLength(2);
  });

  it("throws a non-retryable ProviderError at once", async () => {
    const { wrap, request } = harness();
    const refused = new ProviderError({ code: "CONTENT_POLICY", message: "refused" });
    const inner = new ScriptedImageProvider("stub", [refused]);

    expect(await rejection(wrap(inner).generate(request()))).toBe(refused);
    expect(inner.calls).toHaveLength(1);
  });

  it("throws any other error at once", async () => {
    const { wrap, request } = harness();
    const fault = new Error("database down");
    const inner = new ScriptedImageProvider("stub", [fault]);

    expect(await rejection(wrap(inner).generate(request()))).toBe(fault);
    expect(inner.calls).toHaveLength(1);
  });

  it("gives up with the last error after maxAttempts", async () => {
    const { wrap, request } = harness({ policy: { maxAttempts: 3 } });
    const last = unavailable();
    const inner = new ScriptedImageProvider("stub", [unavailable(), unavailable(), last, unavailable()]);

    expect(await rejection(wrap(inner).generate(request()))).toBe(last);
    expect(inner.calls).toHaveLength(3);
  });

  it("caps the attempts ending in a code with attemptLimits", async () => {
    const { wrap, request } = harness({ policy: { maxAttempts: 6, attemptLimits: { INVALID_OUTPUT: 2 } } });
    const second = noImage();
    const inner = new ScriptedImageProvider("stub", [noImage(), unavailable(), second, unavailable()]);

    expect(await rejection(wrap(inner).generate(request()))).toBe(second);
    expect(inner.calls).toHaveLength(3);
  });

  it("does not sleep past the deadline and fails with the last error instead", async () => {
    const { time, wrap, request } = harness({ random: () => 1 });
    const last = unavailable();
    const inner = new ScriptedImageProvider("stub", [unavailable(), last]);

    const error = await rejection(wrap(inner).generate(request({ deadline: time.now + 2_500 })));

    expect(error).toBe(last);
    expect(time.sleeps).toEqual([1_000]);
    expect(inner.calls).toHaveLength(2);
  });

  it("fails with TIMEOUT without calling the inner provider when the deadline has passed", async () => {
    const { time, wrap, request } = harness();
    const inner = new ScriptedImageProvider("stub");

    const error = await rejection(wrap(inner).generate(request({ deadline: time.now })));

    expect(error).toMatchObject({ code: "TIMEOUT" });
    expect(inner.calls).toHaveLength(0);
  });

  it("stops at once with CANCELED when the task is canceled during a backoff", async () => {
    const inner = new ScriptedImageProvider("stub", [unavailable()]);
    const retrying = new RetryingImageProvider(inner, { policy: { ...POLICY, baseDelayMs: 60_000, maxDelayMs: 60_000 } });
    const controller = new AbortController();
    const startedAt = Date.now();
    setTimeout(() => controller.abort(), 20);

    const error = await rejection(
      retrying.generate({
        taskId: "task_unit",
        model: "nano-banana-text-to-image",
        prompt: "p",
        aspectRatio: "1:1",
        safetyChecking: true,
        signal: controller.signal,
        deadline: Date.now() + 600_000,
      }),
    );

    expect(error).toMatchObject({ code: "CANCELED", retryable: false });
    expect(Date.now() - startedAt).toBeLessThan(1_000);
    expect(inner.calls).toHaveLength(1);
  });

  it("runs onStart once however many attempts the inner provider makes", async () => {
    const { wrap, request } = harness();
    let starts = 0;

    await wrap(new ScriptedImageProvider("stub", [unavailable(), unavailable()])).generate(
      request({ onStart: async () => void (starts += 1) }),
    );

    expect(starts).toBe(1);
  });

  it("runs onRetry before each upstream call after the first", async () => {
    const { wrap, request } = harness();
    const heard: string[] = [];

    await wrap(new ScriptedImageProvider("stub", [unavailable(), unavailable()])).generate(
      request({ onStart: async () => void heard.push("start"), onRetry: async () => void heard.push("retry") }),
    );

    expect(heard).toEqual(["start", "retry", "retry"]);
  });

  it("spends only what is left of maxAttempts after the attempts of earlier runs", async () => {
    const { wrap, request } = harness();
    const inner = new ScriptedImageProvider("stub", [], unavailable());

    const error = await rejection(wrap(inner).generate(request({ attemptsSpent: 2 })));

    expect(error).toMatchObject({ code: "PROVIDER_ERROR", message: "unavailable" });
    expect(inner.calls).toHaveLength(2);
  });

  it("fails with PROVIDER_ERROR without calling the inner provider once earlier runs spent every attempt", async () => {
    const { wrap, request } = harness();
    const inner = new ScriptedImageProvider("stub");
    let starts = 0;

    const error = await rejection(wrap(inner).generate(request({ attemptsSpent: 4, onStart: async () => void (starts += 1) })));

    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: "PROVIDER_ERROR", message: ATTEMPTS_SPENT_MESSAGE, retryable: true });
    expect(inner.calls).toHaveLength(0);
    expect(starts).toBe(0);
  });
});
