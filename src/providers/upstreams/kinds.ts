import type { Logger } from "pino";
import type { Clock } from "../../domain/clock.ts";
import type { ImageProvider } from "../image-provider.ts";
import type { UpstreamCallObserver } from "../metered-image-provider.ts";
import type { Random, Sleep } from "../sleep.ts";

/** The wire formats imagegate speaks to an upstream; one adapter each, under src/providers/<kind>/. */
export const UPSTREAM_KINDS = ["gemini", "vertex", "openrouter", "fal", "replicate"] as const;
export type UpstreamKind = (typeof UPSTREAM_KINDS)[number];

/** What every upstream is configured with, whatever its kind. */
export interface CommonUpstreamOptions {
  /** The upstream's name in configuration, logs, metrics and the admin API: "fal-eu", "vertex". */
  name: string;
  /** The upstream's own model id for each public model it serves: {"nano-banana-pro": "fal-ai/nano-banana-pro"}. */
  models: Readonly<Record<string, string>>;
  /** Another server speaking the same wire format (a proxy, a fake in tests); the service's own when unset. */
  baseUrl?: string;
  /** Budget of one upstream attempt, in ms. */
  timeoutMs: number;
  /** Upstream attempts per task on this upstream, the first one included. */
  maxAttempts: number;
  /** Upstream calls in flight at once, across all tasks of this process. */
  maxConcurrency: number;
  /** Bound to nothing yet: each factory binds its name. */
  logger: Logger;
  observer?: UpstreamCallObserver;
  clock?: Clock;
  sleep?: Sleep;
  random?: Random;
  fetch?: typeof fetch;
}

/** Google's Gemini API (generateContent with an API key). */
export interface GeminiUpstreamOptions extends CommonUpstreamOptions {
  kind: "gemini";
  apiKeys: string[];
  apiVersion?: string;
}

/** Vertex AI: the same models through Google Cloud, with a service account. */
export interface VertexUpstreamOptions extends CommonUpstreamOptions {
  kind: "vertex";
  project: string;
  /** e.g. "global", "us-central1". */
  location: string;
  /** A service-account key file; unset: Application Default Credentials from the environment. */
  credentialsFile?: string;
}

/** OpenRouter's OpenAI-compatible chat completions with image output. */
export interface OpenRouterUpstreamOptions extends CommonUpstreamOptions {
  kind: "openrouter";
  apiKey: string;
}

/** fal's queue API: submit, status, result. */
export interface FalUpstreamOptions extends CommonUpstreamOptions {
  kind: "fal";
  apiKey: string;
  /** Status polls while a request is queued or running; 500 ms unless set. */
  pollIntervalMs?: number;
}

/** Replicate's predictions API. */
export interface ReplicateUpstreamOptions extends CommonUpstreamOptions {
  kind: "replicate";
  apiToken: string;
  /** Polls of a prediction that did not finish within Prefer: wait; 500 ms unless set. */
  pollIntervalMs?: number;
}

export type UpstreamOptions =
  | GeminiUpstreamOptions
  | VertexUpstreamOptions
  | OpenRouterUpstreamOptions
  | FalUpstreamOptions
  | ReplicateUpstreamOptions;

/**
 * One upstream as one ImageProvider (the adapter inside the retry, concurrency and metering
 * layers). Each kind's module is loaded only when configured: the SDKs are large.
 */
export async function createUpstream(options: UpstreamOptions): Promise<ImageProvider> {
  switch (options.kind) {
    case "gemini": {
      const { createGeminiUpstream } = await import("../gemini/create-gemini-provider.ts");
      return createGeminiUpstream(options);
    }
    case "vertex": {
      const { createVertexProvider } = await import("../vertex/create-vertex-provider.ts");
      return createVertexProvider(options);
    }
    case "openrouter": {
      const { createOpenRouterProvider } = await import("../openrouter/create-openrouter-provider.ts");
      return createOpenRouterProvider(options);
    }
    case "fal": {
      const { createFalProvider } = await import("../fal/create-fal-provider.ts");
      return createFalProvider(options);
    }
    case "replicate": {
      const { createReplicateProvider } = await import("../replicate/create-replicate-provider.ts");
      return createReplicateProvider(options);
    }
  }
}
