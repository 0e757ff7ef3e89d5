import { describe, it, expect } from "vitest";
import sharp from "sharp";
import {
  ASPECT_RATIOS,
  EXTREME_RATIOS,
  pixelSize,
  RESOLUTIONS,
  type AspectRatio,
  type PixelSize,
  type Resolution,
} from "../../src/domain/catalog/aspect-ratios.ts";
import { ProviderError, type ImageRequest, type InputImage } from "../../src/providers/image-provider.ts";
import {
  SandboxImageProvider,
  abortableSleep,
  type SandboxSleep,
} from "../../src/providers/sandbox/sandbox-image-provider.ts";
import { sandboxLayout, type Box } from "../../src/providers/sandbox/sandbox-layout.ts";
import { wrapText } from "../../src/providers/sandbox/sandbox-text.ts";

/** Every size the family produces: each ratio at 1K, and the ratios offered at 2K and 4K there too. */
const SIZES: readonly [AspectRatio, Resolution][] = RESOLUTIONS.flatMap((resolution) =>
  ASPECT_RATIOS.filter((ratio) => resolution === "1K" || !(EXTREME_RATIOS as readonly string[]).includes(ratio)).map(
    (ratio): [AspectRatio, Resolution] => [ratio, resolution],
  ),
);

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

  it.each(SIZES)("returns a PNG of exactly the %s pixel size at %s", async (aspectRatio, resolution) => {
    const output = await new SandboxImageProvider({ latencyMs: 0 }).generate(imageRequest({ aspectRatio, resolution }));
    expect(output.declaredMimeType).toBe("image/png");
    const metadata = await sharp(output.bytes).metadata();
    expect(metadata.format).toBe("png");
    expect({ width: metadata.width, height: metadata.height }).toEqual(pixelSize(aspectRatio, resolution));
  });

  it("draws at 1K when the request names no resolution", async () => {
    const output = await new SandboxImageProvider({ latencyMs: 0 }).generate(imageRequest({ aspectRatio: "16:9" }));
    expect(await sizeOf(output.bytes)).toEqual({ width: 1376, height: 768 });
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

interface Rgb {
  r: number;
  g: number;
  b: number;
}

/** A PNG of one colour, made with sharp. */
async function solidImage(colour: Rgb, width = 120, height = 80): Promise<InputImage> {
  const bytes = await sharp({ create: { width, height, channels: 3, background: colour } }).png().toBuffer();
  return { bytes, mimeType: "image/png" };
}

/** Fourteen colours far enough apart that no two are mistaken for each other. */
const PALETTE: readonly Rgb[] = Array.from({ length: 14 }, (_, index) => ({
  r: (index * 97) % 256,
  g: (index * 181 + 40) % 256,
  b: 255 - ((index * 53) % 256),
}));

async function sizeOf(bytes: Buffer): Promise<PixelSize> {
  const metadata = await sharp(bytes).metadata();
  return { width: metadata.width, height: metadata.height };
}

/** The colour at the centre of each box of a rendered picture. */
async function coloursAt(bytes: Buffer, boxes: readonly Box[]): Promise<Rgb[]> {
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  return boxes.map((box) => {
    const x = box.x + Math.floor(box.width / 2);
    const y = box.y + Math.floor(box.height / 2);
    const offset = (y * info.width + x) * info.channels;
    return { r: data[offset] ?? -1, g: data[offset + 1] ?? -1, b: data[offset + 2] ?? -1 };
  });
}

function overlaps(first: Box, second: Box): boolean {
  return first.x < second.x + second.width && second.x < first.x + first.width && first.y < second.y + second.height && second.y < first.y + first.height;
}

describe("SandboxImageProvider with input images", () => {
  const provider = new SandboxImageProvider({ latencyMs: 0 });

  it("draws each input as a thumbnail, in order, beside the prompt of a wide picture", async () => {
    const colours = PALETTE.slice(0, 3);
    const images = await Promise.all(colours.map((colour, index) => solidImage(colour, 60 + index * 50, 90)));
    const output = await provider.generate(imageRequest({ aspectRatio: "16:9", resolution: "2K", images }));
    const size = pixelSize("16:9", "2K");
    expect(await sizeOf(output.bytes)).toEqual(size);

    const layout = sandboxLayout(size, images.length);
    for (const cell of layout.thumbnails) expect(cell.x).toBeGreaterThan(layout.panel.x + layout.panel.width);
    expect(await coloursAt(output.bytes, layout.thumbnails)).toEqual(colours);
  });

  it("puts the thumbnails below the prompt of a tall picture", async () => {
    const colours = PALETTE.slice(3, 5);
    const images = await Promise.all(colours.map((colour) => solidImage(colour)));
    const output = await provider.generate(imageRequest({ aspectRatio: "9:16", images }));
    const layout = sandboxLayout(pixelSize("9:16"), images.length);
    for (const cell of layout.thumbnails) expect(cell.y).toBeGreaterThan(layout.panel.y + layout.panel.height);
    expect(await coloursAt(output.bytes, layout.thumbnails)).toEqual(colours);
  });

  it("shows no input colour where a thumbnail would be when no input is given", async () => {
    const output = await provider.generate(imageRequest({ aspectRatio: "1:1" }));
    const [cell] = sandboxLayout(pixelSize("1:1"), 1).thumbnails;
    expect(cell).toBeDefined();
    expect(await coloursAt(output.bytes, [cell as Box])).not.toEqual([PALETTE[0]]);
  });

  it.each(ASPECT_RATIOS.filter((ratio) => ratio !== "auto"))("fits 14 inputs into a %s picture, each one visible", async (aspectRatio) => {
    const images = await Promise.all(PALETTE.map((colour) => solidImage(colour)));
    const output = await provider.generate(imageRequest({ aspectRatio, images }));
    const size = pixelSize(aspectRatio);
    expect(await sizeOf(output.bytes)).toEqual(size);

    const layout = sandboxLayout(size, images.length);
    expect(layout.thumbnails).toHaveLength(14);
    for (const [index, cell] of layout.thumbnails.entries()) {
      expect(cell.x).toBeGreaterThanOrEqual(0);
      expect(cell.y).toBeGreaterThanOrEqual(0);
      expect(cell.x + cell.width).toBeLessThanOrEqual(size.width);
      expect(cell.y + cell.height).toBeLessThanOrEqual(size.height);
      // About a hundred pixels at least, enough to tell the inputs apart, and apart from the prompt and each other.
      expect(cell.width).toBeGreaterThanOrEqual(Math.min(size.width, size.height) / 10);
      expect(overlaps(cell, layout.panel)).toBe(false);
      for (const other of layout.thumbnails.slice(index + 1)) expect(overlaps(cell, other)).toBe(false);
    }
    // The prompt keeps room for a few lines of a dozen words.
    expect(layout.maxLines).toBeGreaterThanOrEqual(3);
    expect(layout.maxLineEms).toBeGreaterThanOrEqual(10);
    expect(await coloursAt(output.bytes, layout.thumbnails)).toEqual(PALETTE);
  });

  it("gives auto the shape of the last input, at the requested resolution", async () => {
    const tall = await solidImage(PALETTE[0] as Rgb, 100, 200);
    const wide = await solidImage(PALETTE[1] as Rgb, 300, 100);
    const wideLast = await provider.generate(imageRequest({ aspectRatio: "auto", resolution: "2K", images: [tall, wide] }));
    expect(await sizeOf(wideLast.bytes)).toEqual(pixelSize("21:9", "2K"));
    const tallLast = await provider.generate(imageRequest({ aspectRatio: "auto", resolution: "4K", images: [wide, tall] }));
    expect(await sizeOf(tallLast.bytes)).toEqual(pixelSize("9:16", "4K"));
    const square = await provider.generate(imageRequest({ aspectRatio: "auto", images: [await solidImage(PALETTE[2] as Rgb, 130, 128)] }));
    expect(await sizeOf(square.bytes)).toEqual(pixelSize("1:1"));
  });

  it("reads the last input's shape as displayed, EXIF orientation applied", async () => {
    // Stored 400x300 and turned a quarter by its orientation tag: a 3:4 picture.
    const bytes = await sharp({ create: { width: 400, height: 300, channels: 3, background: PALETTE[0] as Rgb } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const output = await provider.generate(imageRequest({ aspectRatio: "auto", images: [{ bytes, mimeType: "image/jpeg" }] }));
    expect(await sizeOf(output.bytes)).toEqual(pixelSize("3:4"));
  });

  it("keeps a fixed ratio whatever the inputs' shape", async () => {
    const output = await provider.generate(imageRequest({ aspectRatio: "4:5", images: [await solidImage(PALETTE[0] as Rgb, 300, 100)] }));
    expect(await sizeOf(output.bytes)).toEqual(pixelSize("4:5"));
  });

  it("fails with a non-retryable PROVIDER_ERROR naming an input it cannot read", async () => {
    const good = await solidImage(PALETTE[0] as Rgb);
    const broken: InputImage = { bytes: Buffer.concat([good.bytes.subarray(0, 40), Buffer.alloc(200, 7)]), mimeType: "image/png" };
    const error = await rejection(provider.generate(imageRequest({ images: [good, broken] })));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: "PROVIDER_ERROR", retryable: false, message: "The image model could not read input image 2." });
  });

  it("gives byte-identical output for the same prompt and inputs", async () => {
    const images = await Promise.all(PALETTE.slice(0, 2).map((colour) => solidImage(colour)));
    const first = await provider.generate(imageRequest({ images }));
    const second = await provider.generate(imageRequest({ images }));
    expect(second.bytes.equals(first.bytes)).toBe(true);
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
