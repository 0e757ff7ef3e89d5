import { setTimeout as delay } from "node:timers/promises";
import {
  BASE_RATIOS,
  pixelSize,
  type AspectRatio,
  type FixedAspectRatio,
  type PixelSize,
} from "../../domain/catalog/aspect-ratios.ts";
import { ProviderError, type ImageOutput, type ImageProvider, type ImageRequest, type InputImage } from "../image-provider.ts";
import { inputImageSize, renderSandboxImage } from "./sandbox-render.ts";

/** Prompt words that make the sandbox act out an upstream's behaviours, for demos and tests. */
export const SANDBOX_MAGIC_WORDS = {
  fail: "[sandbox:fail]",
  unsafe: "[sandbox:unsafe]",
  slow: "[sandbox:slow]",
} as const;

const SLOW_LATENCY_FACTOR = 10;

export type SandboxSleep = (ms: number, signal: AbortSignal) => Promise<void>;

export interface SandboxImageProviderOptions {
  /** How long a generation pretends to wait on the model. */
  latencyMs: number;
  /** Injectable so tests control time; must reject (or return early) once the signal aborts. */
  sleep?: SandboxSleep;
}

/** Waits `ms` milliseconds; rejects as soon as `signal` aborts. */
export const abortableSleep: SandboxSleep = async (ms, signal) => {
  await delay(ms, undefined, { signal });
};

/**
 * A stand-in for a real image model: no network, no key, deterministic pictures of the prompt and
 * of the input images. It lets the whole server run (and be demonstrated) before an upstream is
 * configured, and its pictures have the size the real model's would have.
 */
export class SandboxImageProvider implements ImageProvider {
  readonly name = "sandbox";
  private readonly latencyMs: number;
  private readonly sleep: SandboxSleep;

  constructor(options: SandboxImageProviderOptions) {
    this.latencyMs = options.latencyMs;
    this.sleep = options.sleep ?? abortableSleep;
  }

  async generate(request: ImageRequest): Promise<ImageOutput> {
    // A task canceled while it waited for a slot must not be reported as started.
    throwIfAborted(request.signal);
    await request.onStart?.();

    const waitMs = request.prompt.includes(SANDBOX_MAGIC_WORDS.slow)
      ? this.latencyMs * SLOW_LATENCY_FACTOR
      : this.latencyMs;
    const startedAt = performance.now();
    try {
      await this.sleep(waitMs, request.signal);
    } catch (error) {
      if (request.signal.aborted) throw abortedError(request.signal);
      throw error;
    }
    // An injected sleep may ignore the signal; the outcome must still be the abort.
    throwIfAborted(request.signal);
    const upstreamMs = Math.round(performance.now() - startedAt);

    // Refusals come after the wait, as a real upstream only answers after the round trip.
    if (request.prompt.includes(SANDBOX_MAGIC_WORDS.fail)) {
      throw new ProviderError({
        code: "PROVIDER_ERROR",
        message: "The image model failed to generate the image.",
        retryable: false,
        detail: `sandbox: prompt contains ${SANDBOX_MAGIC_WORDS.fail}`,
      });
    }
    if (request.safetyChecking && request.prompt.includes(SANDBOX_MAGIC_WORDS.unsafe)) {
      throw new ProviderError({
        code: "CONTENT_POLICY",
        message: "The prompt was refused by safety checking.",
        retryable: false,
        detail: `sandbox: prompt contains ${SANDBOX_MAGIC_WORDS.unsafe}`,
      });
    }

    const images = request.images ?? [];
    const resolution = request.resolution ?? "1K";
    const shape = await outputShape(request.aspectRatio, images);
    const size = pixelSize(shape, resolution);
    const ratio = request.aspectRatio === "auto" ? `auto ${shape}` : shape;
    const bytes = await renderSandboxImage({
      prompt: request.prompt,
      size,
      caption: `${ratio} · ${resolution} · ${size.width}×${size.height}`,
      images,
    });
    return { bytes, declaredMimeType: "image/png", upstreamMs };
  }
}

/**
 * The ratio the picture takes. As the Nano Banana models do, `auto` is square without input images
 * and takes the shape of the last one with them.
 */
async function outputShape(ratio: AspectRatio, images: readonly InputImage[]): Promise<FixedAspectRatio> {
  if (ratio !== "auto") return ratio;
  const last = images.at(-1);
  if (last === undefined) return "1:1";
  return nearestBaseRatio(await inputImageSize(last, images.length - 1));
}

/** The base ratio closest to the shape of `size`, compared as logarithms so 2:1 and 1:2 are as far from 1:1. */
export function nearestBaseRatio(size: PixelSize): FixedAspectRatio {
  const distance = (ratio: FixedAspectRatio): number => {
    const [width = 1, height = 1] = ratio.split(":").map(Number);
    return Math.abs(Math.log(size.width / size.height) - Math.log(width / height));
  };
  return BASE_RATIOS.reduce((best, ratio) => (distance(ratio) < distance(best) ? ratio : best));
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortedError(signal);
}

function abortedError(signal: AbortSignal): ProviderError {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === "TimeoutError") {
    return new ProviderError({ code: "TIMEOUT", message: "The task ran past its deadline.", retryable: false, cause: reason });
  }
  return new ProviderError({ code: "CANCELED", message: "The task was canceled.", retryable: false, cause: reason });
}
