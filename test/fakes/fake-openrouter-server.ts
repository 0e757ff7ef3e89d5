import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import { ASPECT_RATIOS, pixelSize, RESOLUTIONS, type AspectRatio, type Resolution } from "../../src/domain/catalog/aspect-ratios.ts";
import { FakeImageCache } from "./fake-gemini-images.ts";

/** What the fake answers a chat completions request with, in OpenRouter's wire format. */
export type FakeOpenRouterAnswer =
  | { kind: "image" }
  /** 200, no image, finish_reason content_filter and Google's native_finish_reason (IMAGE_SAFETY by default). */
  | { kind: "content-filter"; nativeFinishReason?: string }
  /** 403 with OpenRouter's moderation metadata: the input was flagged. */
  | { kind: "moderation" }
  /** 200, a text answer and no image. */
  | { kind: "text-only" }
  /** 429, with Retry-After of this many seconds unless null. */
  | { kind: "rate-limited"; retryAfterSeconds?: number | null }
  /** Any HTTP error status with OpenRouter's error body. */
  | { kind: "status"; status: number; message?: string }
  /** 200 whose body is an error object: the model failed after OpenRouter accepted the request. */
  | { kind: "error-in-body"; code: number; message?: string }
  /** 401, as to a wrong or disabled key. */
  | { kind: "invalid-key" }
  /** 402, as to an account out of credits. */
  | { kind: "no-credits" }
  | { kind: "hang" }
  /** 200 labelled JSON whose body is cut short. */
  | { kind: "malformed-json" };

export interface RecordedOpenRouterRequest {
  path: string;
  /** The bearer key sent, or null. */
  apiKey: string | null;
  body: unknown;
  model: string | null;
  /** The text parts of the user message, joined. */
  prompt: string | null;
  /** The image_url parts, in order: data: URLs decoded, others by their URL. */
  images: { url: string | null; bytes: Buffer | null; mimeType: string | null }[];
  aspectRatio: string | null;
  imageSize: string | null;
  modalities: string[];
}

/** The image sizes OpenRouter takes in image_config.image_size. */
const IMAGE_SIZES: ReadonlySet<string> = new Set(["0.5K", ...RESOLUTIONS]);

/**
 * A stand-in for OpenRouter's POST /api/v1/chat/completions with image output. It checks the
 * bearer key and the body's shape as OpenRouter would (400 for a malformed request), records what
 * it read, and answers from its queue, else with a real PNG of the requested ratio and size.
 */
export class FakeOpenRouterServer {
  readonly requests: RecordedOpenRouterRequest[] = [];
  readonly #server: Server;
  readonly #images = new FakeImageCache();
  readonly #queue: FakeOpenRouterAnswer[] = [];
  readonly #apiKeys: ReadonlySet<string>;
  #url = "";

  private constructor(apiKeys: readonly string[]) {
    this.#apiKeys = new Set(apiKeys);
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        if (!response.headersSent && !response.destroyed) send(response, 500, errorBody(500, `fake failure: ${String(error)}`));
      });
    });
  }

  static async start(options: { apiKeys?: readonly string[] } = {}): Promise<FakeOpenRouterServer> {
    const fake = new FakeOpenRouterServer(options.apiKeys ?? ["sk-or-v1-fake"]);
    await new Promise<void>((resolve, reject) => {
      fake.#server.once("error", reject);
      fake.#server.listen(0, "127.0.0.1", () => resolve());
    });
    fake.#url = `http://127.0.0.1:${(fake.#server.address() as AddressInfo).port}`;
    return fake;
  }

  /** The base URL to configure, like https://openrouter.ai/api/v1. */
  get url(): string {
    return `${this.#url}/api/v1`;
  }

  enqueue(...answers: FakeOpenRouterAnswer[]): void {
    this.#queue.push(...answers);
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const raw = await readBody(request);
    const path = new URL(request.url ?? "/", "http://fake").pathname;
    if (request.method !== "POST" || path !== "/api/v1/chat/completions") {
      send(response, 404, errorBody(404, "Not Found"));
      return;
    }
    const authorization = request.headers.authorization ?? "";
    const apiKey = authorization.startsWith("Bearer ") ? authorization.slice("Bearer ".length) : null;
    const body = parseJson(raw);
    const recorded = record(path, apiKey, body);
    this.requests.push(recorded);

    if (apiKey === null || apiKey === "") {
      send(response, 401, errorBody(401, "No auth credentials found"));
      return;
    }
    if (!this.#apiKeys.has(apiKey)) {
      send(response, 401, errorBody(401, "User not found."));
      return;
    }
    const invalid = await invalidRequest(recorded);
    if (invalid !== null) {
      send(response, 400, errorBody(400, invalid));
      return;
    }
    const answer = this.#queue.shift() ?? { kind: "image" };
    await this.#answer(answer, recorded, response);
  }

  async #answer(answer: FakeOpenRouterAnswer, recorded: RecordedOpenRouterRequest, response: ServerResponse): Promise<void> {
    const model = recorded.model ?? "";
    switch (answer.kind) {
      case "image": {
        const ratio = (recorded.aspectRatio ?? "1:1") as AspectRatio;
        const size = recorded.imageSize === "0.5K" ? "1K" : ((recorded.imageSize ?? "1K") as Resolution);
        const { width, height } = pixelSize(ratio, size);
        const png = await this.#images.get(width, height, "png");
        send(response, 200, completion(model, "stop", "STOP", "Here is your image.", [`data:image/png;base64,${png.toString("base64")}`]));
        return;
      }
      case "content-filter":
        send(response, 200, completion(model, "content_filter", answer.nativeFinishReason ?? "IMAGE_SAFETY", null, []));
        return;
      case "text-only":
        send(response, 200, completion(model, "stop", "STOP", "I can't create that image, but I can describe it.", []));
        return;
      case "moderation":
        send(response, 403, {
          error: {
            code: 403,
            message: `${model} requires moderation on OpenRouter. Your input was flagged for "violence/graphic".`,
            metadata: { reasons: ["violence/graphic"], flagged_input: recorded.prompt?.slice(0, 100) ?? "", provider_name: "OpenAI", model_slug: model },
          },
        });
        return;
      case "rate-limited": {
        const seconds = answer.retryAfterSeconds === undefined ? 2 : answer.retryAfterSeconds;
        const headers: Record<string, string> = seconds === null ? {} : { "retry-after": String(seconds) };
        send(response, 429, { error: { code: 429, message: "Rate limit exceeded: free-models-per-min.", metadata: { headers: {} } } }, headers);
        return;
      }
      case "status":
        send(response, answer.status, errorBody(answer.status, answer.message ?? defaultMessage(answer.status)));
        return;
      case "error-in-body":
        send(response, 200, { ...errorBody(answer.code, answer.message ?? defaultMessage(answer.code)), user_id: "user_fake" });
        return;
      case "invalid-key":
        send(response, 401, errorBody(401, "User not found."));
        return;
      case "no-credits":
        send(response, 402, errorBody(402, "Insufficient credits. Add more using https://openrouter.ai/settings/credits"));
        return;
      case "hang":
        return;
      case "malformed-json":
        response.writeHead(200, { "content-type": "application/json" });
        response.end('{"id":"gen-1","choices":[{"message":{"role":"assistant","images":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO');
        return;
    }
  }
}

function defaultMessage(status: number): string {
  if (status === 400) return "Provider returned error";
  if (status === 502) return "Provider returned error";
  if (status === 503) return "No endpoints found that can handle the requested parameters.";
  return "Internal Server Error";
}

function errorBody(code: number, message: string): { error: { code: number; message: string } } {
  return { error: { code, message } };
}

/** A chat completion as OpenRouter answers a Gemini image model through Google AI Studio. */
function completion(model: string, finishReason: string, nativeFinishReason: string, content: string | null, images: string[]): unknown {
  return {
    id: `gen-${Date.now()}-${Math.random().toString(36).slice(2, 12)}`,
    provider: "Google AI Studio",
    model,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    choices: [
      {
        logprobs: null,
        finish_reason: finishReason,
        native_finish_reason: nativeFinishReason,
        index: 0,
        message: {
          role: "assistant",
          content: content ?? "",
          refusal: null,
          reasoning: null,
          ...(images.length > 0 ? { images: images.map((url, index) => ({ type: "image_url", image_url: { url }, index })) } : {}),
        },
      },
    ],
    usage: { prompt_tokens: 12, completion_tokens: images.length * 1290, total_tokens: 12 + images.length * 1290 },
  };
}

function record(path: string, apiKey: string | null, body: unknown): RecordedOpenRouterRequest {
  const messages = field(body, "messages");
  const content = Array.isArray(messages) ? field(messages[0], "content") : undefined;
  const parts = Array.isArray(content) ? content : [];
  const texts = parts.filter((part) => field(part, "type") === "text").map((part) => field(part, "text"));
  const images = parts
    .filter((part) => field(part, "type") === "image_url")
    .map((part) => {
      const url = field(field(part, "image_url"), "url");
      if (typeof url !== "string") return { url: null, bytes: null, mimeType: null };
      const data = /^data:([^;,]+);base64,(.+)$/s.exec(url);
      return data === null ? { url, bytes: null, mimeType: null } : { url: null, bytes: Buffer.from(data[2] ?? "", "base64"), mimeType: data[1] ?? null };
    });
  const imageConfig = field(body, "image_config");
  const modalities = field(body, "modalities");
  const model = field(body, "model");
  const aspectRatio = field(imageConfig, "aspect_ratio");
  const imageSize = field(imageConfig, "image_size");
  return {
    path,
    apiKey,
    body,
    model: typeof model === "string" ? model : null,
    prompt: typeof content === "string" ? content : texts.every((text) => typeof text === "string") && texts.length > 0 ? texts.join("\n") : null,
    images,
    aspectRatio: typeof aspectRatio === "string" ? aspectRatio : null,
    imageSize: typeof imageSize === "string" ? imageSize : null,
    modalities: Array.isArray(modalities) ? modalities.filter((entry): entry is string => typeof entry === "string") : [],
  };
}

/** OpenRouter's 400s for what this request shape gets wrong; null when it is well formed. */
async function invalidRequest(recorded: RecordedOpenRouterRequest): Promise<string | null> {
  if (recorded.body === null) return "Invalid JSON in request body";
  if (recorded.model === null || recorded.model === "") return "model is required";
  const messages = field(recorded.body, "messages");
  if (!Array.isArray(messages) || messages.length !== 1 || field(messages[0], "role") !== "user") return "Expected one user message";
  if (recorded.prompt === null || recorded.prompt === "") return "The user message needs a text part";
  if (!recorded.modalities.includes("image")) return "This request needs modalities to include \"image\"";
  if (recorded.aspectRatio !== null && !(ASPECT_RATIOS as readonly string[]).includes(recorded.aspectRatio)) {
    return `Invalid aspect_ratio: ${recorded.aspectRatio}`;
  }
  if (recorded.aspectRatio === "auto") return "Invalid aspect_ratio: auto";
  if (recorded.imageSize !== null && !IMAGE_SIZES.has(recorded.imageSize)) return `Invalid image_size: ${recorded.imageSize}`;
  for (const [index, image] of recorded.images.entries()) {
    if (image.url !== null) continue;
    if (image.bytes === null || image.bytes.length === 0) return `Invalid image_url at content[${index + 1}]`;
    try {
      await sharp(image.bytes).metadata();
    } catch {
      return `Could not process image at content[${index + 1}]`;
    }
  }
  return null;
}

function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  response.end(text);
}
