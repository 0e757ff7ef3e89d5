import { GoogleGenAI, HarmBlockThreshold, HarmCategory, type SafetySetting } from "@google/genai";
import { systemClock } from "../../domain/clock.ts";
import { GeminiImageProvider, type GeminiServiceWording } from "../gemini/gemini-image-provider.ts";
import { KeyPool } from "../gemini/key-pool.ts";
import type { GeminiModelMap } from "../gemini/upstream-models.ts";
import type { ImageProvider } from "../image-provider.ts";
import { layeredAdapter } from "../upstream-layers.ts";
import { modelsOrDefaults } from "../upstreams/default-models.ts";
import type { VertexUpstreamOptions } from "../upstreams/kinds.ts";
import { vertexAuthOptions, vertexCredentialFailure } from "./vertex-credentials.ts";


/** Vertex AI's limit on one inline image (inlineData); a larger one must go by URL. */
export const VERTEX_MAX_INLINE_IMAGE_BYTES = 7 * 1024 * 1024;

/**
 * Sent when the client turned safety checking off: Vertex takes the image categories the Gemini
 * API lacks, and OFF (no filter, nor its scores) where the Gemini API has BLOCK_NONE.
 */
export const VERTEX_PERMISSIVE_SAFETY_SETTINGS: readonly SafetySetting[] = [
  HarmCategory.HARM_CATEGORY_HARASSMENT,
  HarmCategory.HARM_CATEGORY_HATE_SPEECH,
  HarmCategory.HARM_CATEGORY_SEXUALLY_EXPLICIT,
  HarmCategory.HARM_CATEGORY_DANGEROUS_CONTENT,
  HarmCategory.HARM_CATEGORY_IMAGE_HARASSMENT,
  HarmCategory.HARM_CATEGORY_IMAGE_HATE,
  HarmCategory.HARM_CATEGORY_IMAGE_SEXUALLY_EXPLICIT,
  HarmCategory.HARM_CATEGORY_IMAGE_DANGEROUS_CONTENT,
].map((category) => ({ category, threshold: HarmBlockThreshold.OFF }));

/** The one credential of a Vertex upstream, as the adapter's key pool holds it; never sent anywhere. */
const SERVICE_ACCOUNT = "vertex-service-account";

const VERTEX_WORDING: GeminiServiceWording = {
  label: "Vertex AI",
  credential: "the service account",
  rejected: "the service account",
  credentialSetting: "the upstream's credentialsFile or GOOGLE_APPLICATION_CREDENTIALS, and its IAM role (Vertex AI User)",
};

/**
 * Vertex AI as one ImageProvider: the adapter (see createVertexAdapter) inside the layers every
 * upstream has.
 */
export function createVertexProvider(options: VertexUpstreamOptions): ImageProvider {
  return layeredAdapter(options, createVertexAdapter);
}

/**
 * The Vertex adapter alone, one attempt per call: the Gemini adapter (the same generateContent
 * wire format, answers and errors) with a Vertex client of the SDK, which signs in with the
 * service account and sends
 * `{baseUrl}/v1beta1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent`
 * with a bearer token. The logger given is used as is.
 */
export function createVertexAdapter(options: VertexUpstreamOptions): GeminiImageProvider {
  const clock = options.clock ?? systemClock;
  const googleAuthOptions = vertexAuthOptions(options.credentialsFile, options.timeoutMs);
  const named = modelsOrDefaults("vertex", options.models);
  const models: GeminiModelMap = Object.fromEntries(
    Object.entries(named).map(([publicId, upstream]) => [publicId, { upstream, setting: "UPSTREAMS_FILE" }]),
  );
  return new GeminiImageProvider({
    name: options.name,
    keyPool: new KeyPool([SERVICE_ACCOUNT], clock),
    models,
    baseUrl: options.baseUrl,
    timeoutMs: options.timeoutMs,
    logger: options.logger,
    clock,
    sleep: options.sleep,
    fetch: options.fetch,
    // One client for the upstream: google-auth-library caches its token until shortly before expiry.
    createClient: (_key, httpOptions) =>
      new GoogleGenAI({ vertexai: true, project: options.project, location: options.location, googleAuthOptions, httpOptions }),
    service: VERTEX_WORDING,
    permissiveSafetySettings: VERTEX_PERMISSIVE_SAFETY_SETTINGS,
    maxInlineImageBytes: VERTEX_MAX_INLINE_IMAGE_BYTES,
    credentialFailure: vertexCredentialFailure,
  });
}
