import type { ImageOutput, ImageProvider, ImageRequest, ProviderHealth } from "../../src/providers/image-provider.ts";

/** One scripted outcome: an output, an error to throw, or a function deciding per call. */
export type ScriptedOutcome = ImageOutput | Error | ((request: ImageRequest) => Promise<ImageOutput>);

/**
 * An ImageProvider for the decorators' unit tests: answers from a script, records every call and,
 * like a real leaf adapter, calls onStart right before its (pretend) upstream call.
 */
export class ScriptedImageProvider implements ImageProvider {
  readonly name: string;
  readonly calls: ImageRequest[] = [];
  #script: ScriptedOutcome[];
  #fallback: ScriptedOutcome;
  healthReport: ProviderHealth | undefined;

  constructor(name: string, script: ScriptedOutcome[] = [], fallback: ScriptedOutcome = scriptedImage()) {
    this.name = name;
    this.#script = [...script];
    this.#fallback = fallback;
  }

  async generate(request: ImageRequest): Promise<ImageOutput> {
    this.calls.push(request);
    const outcome = this.#script.shift() ?? this.#fallback;
    await request.onStart?.();
    if (outcome instanceof Error) {
      throw outcome;
    }
    if (typeof outcome === "function") {
      return outcome(request);
    }
    return outcome;
  }

  health(): ProviderHealth {
    return this.healthReport ?? { ok: true };
  }
}

export function scriptedImage(label = "image"): ImageOutput {
  return { bytes: Buffer.from(label), declaredMimeType: "image/png" };
}
