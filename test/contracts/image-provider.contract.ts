import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageProvider, ImageRequest } from "../../src/providers/image-provider.ts";
import { imageRequest, providerFailure } from "../helpers/image-requests.ts";

/** How a fake upstream answers its next request, in each service's own wire format. */
export type ScriptedAnswer =
  /** An image (PNG or JPEG bytes, however the service delivers them). */
  | { kind: "image" }
  /** The service's content refusal (a safety block, a policy error). */
  | { kind: "refusal" }
  /** The service's rate limit, with a Retry-After (or its own field) of this many seconds when given. */
  | { kind: "rate-limit"; retryAfterSeconds?: number }
  /** A 5xx with the service's error body. */
  | { kind: "server-error"; status?: 500 | 502 | 503 }
  /** Never answers (until the client gives up). */
  | { kind: "hang" }
  /** 200 with a body the service would never send (cut-short JSON, no image where one belongs). */
  | { kind: "garbage" }
  /** The service's answer to a rejected credential (401/403). */
  | { kind: "bad-credentials" };

/** What the suite needs of each fake upstream: where it is, what to answer next, what it received. */
export interface UpstreamFake {
  readonly url: string;
  /** The next requests answer these, in order; then images again. */
  script(...answers: ScriptedAnswer[]): void;
  /** Generation requests received (status polls and downloads not counted). */
  readonly generationRequests: number;
  /** The prompt and number of input images of the last generation request, as the service read them. */
  readonly lastGeneration: { prompt: string | null; images: number } | null;
  close(): Promise<void>;
}

export interface ProviderUnderTest {
  fake: UpstreamFake;
  /** The adapter alone (no retries): one call is one upstream attempt. timeoutMs bounds each attempt. */
  adapter(options: { timeoutMs: number }): ImageProvider;
}

function request(overrides: Partial<ImageRequest> = {}): ImageRequest {
  return imageRequest({ taskId: "task_contract", aspectRatio: "1:1", resolution: "1K", ...overrides });
}

const failureOf = providerFailure;

/**
 * The behaviour every upstream adapter shares, whatever its wire format: one attempt per call,
 * onStart once before it, every outcome an ImageOutput or a ProviderError whose retryable,
 * code and retryAfterMs the retry, fallback and circuit-breaker layers can act on.
 */
export function imageProviderContract(name: string, setup: () => Promise<ProviderUnderTest>): void {
  describe(`${name} as an image provider`, () => {
    let subject: ProviderUnderTest;
    let provider: ImageProvider;

    beforeAll(async () => {
      subject = await setup();
      provider = subject.adapter({ timeoutMs: 1_500 });
    }, 60_000);
    afterAll(async () => subject?.fake.close());

    it("returns the upstream's image for a prompt, calling onStart once before the upstream call", async () => {
      let starts = 0;
      const before = subject.fake.generationRequests;
      const output = await provider.generate(request({ onStart: async () => void (starts += 1) }));
      expect(starts).toBe(1);
      expect(subject.fake.generationRequests).toBe(before + 1);
      expect(subject.fake.lastGeneration?.prompt).toContain("a banana in the rain");
      const metadata = await sharp(output.bytes).metadata();
      expect(["png", "jpeg", "webp"]).toContain(metadata.format);
      expect(metadata.width).toBeGreaterThan(0);
    });

    it("sends the reference images along", async () => {
      const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#f5c400" } }).png().toBuffer();
      const images = [
        { bytes: png, mimeType: "image/png" },
        { bytes: png, mimeType: "image/png" },
      ];
      await provider.generate(request({ images }));
      expect(subject.fake.lastGeneration?.images).toBe(2);
    });

    it("maps a content refusal to CONTENT_POLICY, not retryable", async () => {
      subject.fake.script({ kind: "refusal" });
      const error = await failureOf(provider.generate(request()));
      expect(error.code).toBe("CONTENT_POLICY");
      expect(error.retryable).toBe(false);
    });

    it("maps a rate limit to a retryable PROVIDER_ERROR carrying the delay the upstream asked for", async () => {
      subject.fake.script({ kind: "rate-limit", retryAfterSeconds: 7 });
      const error = await failureOf(provider.generate(request()));
      expect(error.code).toBe("PROVIDER_ERROR");
      expect(error.retryable).toBe(true);
      expect(error.retryAfterMs).toBe(7_000);
    });

    it("maps a 5xx to a retryable PROVIDER_ERROR", async () => {
      subject.fake.script({ kind: "server-error", status: 503 });
      const error = await failureOf(provider.generate(request()));
      expect(error.code).toBe("PROVIDER_ERROR");
      expect(error.retryable).toBe(true);
    });

    it("gives up on an upstream that hangs after the attempt's timeout, retryable", async () => {
      subject.fake.script({ kind: "hang" });
      const startedAt = Date.now();
      const error = await failureOf(provider.generate(request()));
      expect(Date.now() - startedAt).toBeLessThan(10_000);
      expect(error.retryable).toBe(true);
    }, 20_000);

    it("stops at once when the task is canceled, as CANCELED", async () => {
      subject.fake.script({ kind: "hang" });
      const controller = new AbortController();
      const pending = provider.generate(request({ signal: controller.signal }));
      setTimeout(() => controller.abort(), 100);
      const error = await failureOf(pending);
      expect(error.code).toBe("CANCELED");
    }, 20_000);

    it("reads a garbled answer as a failure, never as an image", async () => {
      subject.fake.script({ kind: "garbage" });
      const error = await failureOf(provider.generate(request()));
      expect(["INVALID_OUTPUT", "PROVIDER_ERROR"]).toContain(error.code);
    });

    it("marks rejected credentials as the operator's error, which another upstream may serve", async () => {
      subject.fake.script({ kind: "bad-credentials" });
      const error = await failureOf(provider.generate(request()));
      expect(error.operatorError).toBe(true);
    });

    it("serves again after all of that", async () => {
      const output = await provider.generate(request());
      expect(output.bytes.length).toBeGreaterThan(0);
    });
  });
}
