import { describe, it, expect } from "vitest";
import sharp from "sharp";
import { BASE_RATIOS, pixelSize } from "../../src/domain/catalog/aspect-ratios.ts";
import { ProviderError, type ImageRequest } from "../../src/providers/image-provider.ts";
import {
  SandboxImageProvider,
  abortableSleep,
  wrapText,
  type SandboxSleep,
} from "../../src/providers/sandbox/sandbox-image-provider.ts";

const SEED_RATIOS = [...BASE_RATIOS, "auto"] as const;

function imageRequest(overrides: Partial<ImageRequest> = {}): ImageRequest {
  return {
    taskId: "task_test",
    model: "nano-banana-text-to-image",
    prompt: "A red fox sleeping under a cherry tree",
    aspectRatio: "1:1",
    safetyChecking: true,
    signal: new AbortController().signal,
    deadline: Date.now() + 60_000,
    ...overrides,
  };
}

/** A sleep that records what it was asked for and returns at once. */
function recordingSleep(): { sleep: SandboxSleep; calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    sleep: async (ms) => {
      calls.push(ms);
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

describe("SandboxImageProvider", () => {
  it("is named sandbox", () => {
    expect(new SandboxImageProvider({ latencyMs: 0 }).name).toBe("sandbox");
  });

  it.each(SEED_RATIOS)("returns a PNG of exactly the %s pixel size", async (aspectRatio) => {
    const output = await new SandboxImageProvider({ latencyMs: 0 }).generate(imageRequest({ aspectRatio }));
    expect(output.declaredMimeType).toBe("image/png");
    const metadata = await sharp(output.bytes).metadata();
    expect(metadata.format).toBe("png");
    expect({ width: metadata.width, height: metadata.height }).toEqual(pixelSize(aspectRatio));
  });

  it("gives byte-identical output for the same prompt and ratio", async () => {
    const provider = new SandboxImageProvider({ latencyMs: 0 });
    const first = await provider.generate(imageRequest());
    const second = await provider.generate(imageRequest({ taskId: "task_other" }));
    expect(second.bytes.equals(first.bytes)).toBe(true);
  });

  it("gives different output for a different prompt", async () => {
    const provider = new SandboxImageProvider({ latencyMs: 0 });
    const first = await provider.generate(imageRequest());
    const second = await provider.generate(imageRequest({ prompt: "A red fox sleeping under a cherry tree!" }));
    expect(second.bytes.equals(first.bytes)).toBe(false);
  });

  it("waits the configured latency and reports it as upstream time", async () => {
    const { sleep, calls } = recordingSleep();
    const output = await new SandboxImageProvider({ latencyMs: 250, sleep }).generate(imageRequest());
    expect(calls).toEqual([250]);
    expect(output.upstreamMs).toBeGreaterThanOrEqual(0);
  });

  it("measures the real wait with the default sleep", async () => {
    const output = await new SandboxImageProvider({ latencyMs: 30 }).generate(imageRequest());
    expect(output.upstreamMs).toBeGreaterThanOrEqual(25);
  });

  it("calls onStart once, before waiting", async () => {
    const events: string[] = [];
    const provider = new SandboxImageProvider({
      latencyMs: 5,
      sleep: async () => {
        events.push("sleep");
      },
    });
    await provider.generate(
      imageRequest({
        onStart: async () => {
          events.push("start");
        },
      }),
    );
    expect(events).toEqual(["start", "sleep"]);
  });

  it("fails with a non-retryable PROVIDER_ERROR on [sandbox:fail]", async () => {
    const error = await rejection(
      new SandboxImageProvider({ latencyMs: 0 }).generate(imageRequest({ prompt: "a cat [sandbox:fail]" })),
    );
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      code: "PROVIDER_ERROR",
      retryable: false,
      message: "The image model failed to generate the image.",
    });
  });

  it("refuses [sandbox:unsafe] with CONTENT_POLICY when safety checking is on", async () => {
    const error = await rejection(
      new SandboxImageProvider({ latencyMs: 0 }).generate(imageRequest({ prompt: "[sandbox:unsafe] a cat", safetyChecking: true })),
    );
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      code: "CONTENT_POLICY",
      retryable: false,
      message: "The prompt was refused by safety checking.",
    });
  });

  it("generates [sandbox:unsafe] normally when safety checking is off", async () => {
    const output = await new SandboxImageProvider({ latencyMs: 0 }).generate(
      imageRequest({ prompt: "[sandbox:unsafe] a cat", safetyChecking: false }),
    );
    expect((await sharp(output.bytes).metadata()).format).toBe("png");
  });

  it("waits ten times the latency on [sandbox:slow]", async () => {
    const { sleep, calls } = recordingSleep();
    await new SandboxImageProvider({ latencyMs: 40, sleep }).generate(imageRequest({ prompt: "a cat [sandbox:slow]" }));
    expect(calls).toEqual([400]);
  });

  it("rejects promptly with CANCELED when the signal aborts during the wait", async () => {
    const controller = new AbortController();
    const startedAt = performance.now();
    const pending = new SandboxImageProvider({ latencyMs: 10_000 }).generate(imageRequest({ signal: controller.signal }));
    setTimeout(() => controller.abort(), 20);
    const error = await rejection(pending);
    expect(performance.now() - startedAt).toBeLessThan(1_000);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: "CANCELED", message: "The task was canceled.", retryable: false });
  });

  it("rejects with TIMEOUT when the signal aborts with a TimeoutError", async () => {
    const startedAt = performance.now();
    const error = await rejection(
      new SandboxImageProvider({ latencyMs: 10_000 }).generate(imageRequest({ signal: AbortSignal.timeout(20) })),
    );
    expect(performance.now() - startedAt).toBeLessThan(1_000);
    expect(error).toMatchObject({ code: "TIMEOUT", message: "The task ran past its deadline.", retryable: false });
  });

  it("does not call onStart when the signal is already aborted", async () => {
    const controller = new AbortController();
    controller.abort();
    let started = false;
    const error = await rejection(
      new SandboxImageProvider({ latencyMs: 0 }).generate(
        imageRequest({
          signal: controller.signal,
          onStart: async () => {
            started = true;
          },
        }),
      ),
    );
    expect(error).toMatchObject({ code: "CANCELED" });
    expect(started).toBe(false);
  });

  it("still reports CANCELED when an injected sleep ignores the signal", async () => {
    const controller = new AbortController();
    const provider = new SandboxImageProvider({
      latencyMs: 5,
      sleep: async () => {
        controller.abort();
      },
    });
    const error = await rejection(provider.generate(imageRequest({ signal: controller.signal })));
    expect(error).toMatchObject({ code: "CANCELED" });
  });

  it("renders prompts with markup, control characters and 20000 code points", async () => {
    const prompt = `<svg> & "quotes" 'apostrophes' \u0000\u0007\u001b ]]> ${"wordy ".repeat(4_000)}`.slice(0, 20_000);
    const output = await new SandboxImageProvider({ latencyMs: 0 }).generate(imageRequest({ prompt, aspectRatio: "21:9" }));
    const metadata = await sharp(output.bytes).metadata();
    expect({ width: metadata.width, height: metadata.height }).toEqual(pixelSize("21:9"));
  });
});

describe("wrapText", () => {
  it("keeps a short prompt on one line", () => {
    expect(wrapText("a small cat", 20, 3)).toEqual(["a small cat"]);
  });

  it("wraps at word boundaries and keeps explicit line breaks", () => {
    expect(wrapText("one two three\n\n\nfour", 3, 10)).toEqual(["one", "two", "three", "", "four"]);
  });

  it("cuts a word wider than a line", () => {
    const lines = wrapText("a".repeat(30), 6.4, 10);
    expect(lines.join("")).toBe("a".repeat(30));
    expect(lines.every((line) => line.length <= 10)).toBe(true);
  });

  it("ends a truncated prompt with an ellipsis within the line budget", () => {
    const lines = wrapText("word ".repeat(100), 10, 3);
    expect(lines).toHaveLength(3);
    expect(lines[2]?.endsWith("…")).toBe(true);
  });
});

describe("abortableSleep", () => {
  it("resolves after the delay", async () => {
    const startedAt = performance.now();
    await abortableSleep(20, new AbortController().signal);
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(15);
  });

  it("rejects as soon as the signal aborts", async () => {
    const controller = new AbortController();
    const pending = abortableSleep(10_000, controller.signal);
    controller.abort();
    await expect(pending).rejects.toThrow();
  });
});
