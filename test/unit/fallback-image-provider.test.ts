import { describe, expect, it } from "vitest";
import { FallbackImageProvider } from "../../src/providers/fallback-image-provider.ts";
import { ProviderError, type ImageRequest } from "../../src/providers/image-provider.ts";
import { ScriptedImageProvider, scriptedImage } from "../fakes/scripted-image-provider.ts";

function request(overrides: Partial<ImageRequest> = {}): ImageRequest {
  return {
    taskId: "task_unit",
    model: "nano-banana-text-to-image",
    prompt: "p",
    aspectRatio: "1:1",
    safetyChecking: true,
    signal: new AbortController().signal,
    deadline: Date.now() + 600_000,
    ...overrides,
  };
}

const exhausted = () => new ProviderError({ code: "PROVIDER_ERROR", message: "unavailable", retryable: true });

describe("FallbackImageProvider", () => {
  it("answers from the first provider when it succeeds", async () => {
    const first = new ScriptedImageProvider("first", [scriptedImage("first")]);
    const second = new ScriptedImageProvider("second");

    const output = await new FallbackImageProvider([first, second]).generate(request());

    expect(output).toEqual(scriptedImage("first"));
    expect(second.calls).toHaveLength(0);
  });

  it("tries the next provider after a retryable failure, running onStart once", async () => {
    const first = new ScriptedImageProvider("first", [exhausted()]);
    const second = new ScriptedImageProvider("second", [scriptedImage("second")]);
    let starts = 0;

    const output = await new FallbackImageProvider([first, second]).generate(
      request({ onStart: async () => void (starts += 1) }),
    );

    expect(output).toEqual(scriptedImage("second"));
    expect(starts).toBe(1);
  });

  it("counts the next provider's first call as a retry, not as a second start", async () => {
    const first = new ScriptedImageProvider("first", [exhausted()]);
    const second = new ScriptedImageProvider("second", [scriptedImage("second")]);
    const heard: string[] = [];

    await new FallbackImageProvider([first, second]).generate(
      request({ onStart: async () => void heard.push("start"), onRetry: async () => void heard.push("retry") }),
    );

    expect(heard).toEqual(["start", "retry"]);
  });

  it.each([
    ["CONTENT_POLICY", new ProviderError({ code: "CONTENT_POLICY", message: "refused", retryable: true })],
    ["a non-retryable failure", new ProviderError({ code: "PROVIDER_ERROR", message: "rejected" })],
    ["CANCELED", new ProviderError({ code: "CANCELED", message: "canceled", retryable: true })],
    ["TIMEOUT", new ProviderError({ code: "TIMEOUT", message: "late", retryable: true })],
    ["an error that is not a ProviderError", new Error("fault")],
  ])("does not fall back on %s", async (_name, failure) => {
    const second = new ScriptedImageProvider("second");

    await expect(
      new FallbackImageProvider([new ScriptedImageProvider("first", [failure]), second]).generate(request()),
    ).rejects.toBe(failure);
    expect(second.calls).toHaveLength(0);
  });

  it("does not fall back once the task's signal has aborted", async () => {
    const controller = new AbortController();
    const first = new ScriptedImageProvider("first", [
      async () => {
        controller.abort();
        throw exhausted();
      },
    ]);
    const second = new ScriptedImageProvider("second");

    await expect(
      new FallbackImageProvider([first, second]).generate(request({ signal: controller.signal })),
    ).rejects.toMatchObject({ code: "CANCELED" });
    expect(second.calls).toHaveLength(0);
  });

  it("throws the last provider's error when every provider fails", async () => {
    const last = exhausted();

    await expect(
      new FallbackImageProvider([
        new ScriptedImageProvider("first", [exhausted()]),
        new ScriptedImageProvider("second", [last]),
      ]).generate(request()),
    ).rejects.toBe(last);
  });

  it("is healthy while any provider of the route is", () => {
    const first = new ScriptedImageProvider("first");
    const second = new ScriptedImageProvider("second");
    first.healthReport = { ok: false, reason: "first key rejected" };
    const route = new FallbackImageProvider([first, second]);

    expect(route.health()).toEqual({ ok: true });
    second.healthReport = { ok: false, reason: "second key rejected" };
    expect(route.health()).toEqual({ ok: false, reason: "first key rejected; second key rejected" });
    expect(route.name).toBe("first>second");
  });
});
