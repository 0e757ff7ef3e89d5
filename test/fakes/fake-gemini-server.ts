import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import { MODELS } from "../../src/domain/catalog/models/index.ts";
import {
  blockedBody,
  candidateBody,
  errorBody,
  invalidKeyBody,
  missingKeyBody,
  parseMagicWord,
  rateLimitedBody,
  type ContentPart,
  type FakeGeminiAnswer,
  type FakeResponse,
} from "./fake-gemini-answers.ts";
import {
  fakeGeminiModel,
  FAKE_GEMINI_THOUGHT_SIZE,
  FakeImageCache,
  nearestRatio,
  type PixelSize,
} from "./fake-gemini-images.ts";

export type { FakeGeminiAnswer } from "./fake-gemini-answers.ts";

export interface RecordedGeminiRequest {
  method: string;
  /** The path as received, e.g. /v1beta/models/gemini-2.5-flash-image:generateContent. */
  path: string;
  apiVersion: string | null;
  model: string | null;
  headers: IncomingHttpHeaders;
  /** The x-goog-api-key header (or ?key=), as the upstream reads it. */
  apiKey: string | null;
  /** The parsed JSON body; null when it was not JSON. */
  body: unknown;
  prompt: string | null;
  aspectRatio: string | null;
  /** generationConfig.imageConfig.imageSize as sent. */
  imageSize: string | null;
  /** The inlineData parts of the request, in order, their data decoded. */
  inputImages: RecordedInputImage[];
  /** Epoch ms of arrival. */
  receivedAt: number;
}

export interface RecordedInputImage {
  mimeType: string | null;
  /** The base64 data as sent. */
  data: string | null;
  bytes: Buffer;
}

export interface FakeGeminiOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Latency added to every answer, e.g. for benchmarks. */
  latencyMs?: number;
  /** When set, keys outside the list get 400 API_KEY_INVALID. */
  allowedKeys?: readonly string[] | null;
  /** When set, other model ids get 404 NOT_FOUND. */
  models?: readonly string[] | null;
  /** What to answer when neither the queue nor a magic word says otherwise. */
  defaultAnswer?: FakeGeminiAnswer;
}

const GENERATE_PATH = /^\/(v1|v1beta)\/models\/([^/:]+):generateContent$/;
const MODEL_PATH = /^\/(v1|v1beta)\/models\/([^/:]+)$/;
const LIST_PATH = /^\/(v1|v1beta)\/models$/;

/** The image models the listing shows when no `models` option narrows it: every model's default upstream, and then some. */
const LISTED_IMAGE_MODELS = [
  ...new Set(["gemini-2.5-flash-image", "gemini-3.1-flash-image", ...MODELS.map((model) => model.defaultGeminiModel)]),
];

/** The types Google takes as inline image data. */
const INPUT_IMAGE_TYPES: ReadonlySet<string> = new Set(["image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"]);

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A model resource as models.get and models.list answer it. */
function modelResource(model: string): Record<string, unknown> {
  return {
    name: `models/${model}`,
    version: "001",
    displayName: model,
    description: `Fake ${model}.`,
    inputTokenLimit: 32_768,
    outputTokenLimit: 32_768,
    supportedGenerationMethods: ["generateContent", "countTokens"],
  };
}

/**
 * A stand-in for the Gemini Developer API's generateContent, speaking its wire format. Answers
 * come from, in order: the queue (`enqueue`), a magic word in the prompt (`[gemini:503]`), the
 * default answer (a real PNG of the requested ratio's size).
 */
export class FakeGeminiServer {
  /** Every request but the model listing's: generateContent calls, and anything else sent. */
  readonly requests: RecordedGeminiRequest[] = [];
  /** models.get and models.list requests, apart, so that counting upstream calls is not disturbed. */
  readonly listingRequests: RecordedGeminiRequest[] = [];
  readonly #server: Server;
  readonly #images = new FakeImageCache();
  readonly #queue: FakeGeminiAnswer[] = [];
  readonly #magicWordUses = new Map<string, number>();
  #latencyMs: number;
  #allowedKeys: ReadonlySet<string> | null;
  #models: ReadonlySet<string> | null;
  #defaultAnswer: FakeGeminiAnswer;
  #inFlight = 0;
  #maxInFlight = 0;
  #url = "";

  private constructor(options: FakeGeminiOptions) {
    this.#latencyMs = options.latencyMs ?? 0;
    this.#allowedKeys = options.allowedKeys ? new Set(options.allowedKeys) : null;
    this.#models = options.models ? new Set(options.models) : null;
    this.#defaultAnswer = options.defaultAnswer ?? { kind: "image" };
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        if (!response.headersSent && !response.destroyed) {
          send(response, errorBody(500, `fake failure: ${String(error)}`));
        }
      });
    });
  }

  static async start(options: FakeGeminiOptions = {}): Promise<FakeGeminiServer> {
    const fake = new FakeGeminiServer(options);
    const host = options.host ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      fake.#server.once("error", reject);
      fake.#server.listen(options.port ?? 0, host, () => resolve());
    });
    const address = fake.#server.address() as AddressInfo;
    fake.#url = `http://${host}:${address.port}`;
    return fake;
  }

  /** The base URL to give the SDK (GEMINI_BASE_URL). */
  get url(): string {
    return this.#url;
  }

  /** Requests being answered right now, and the most at once since the last reset. */
  get inFlight(): number {
    return this.#inFlight;
  }

  get maxInFlight(): number {
    return this.#maxInFlight;
  }

  /** The next answers, in order, one per request; they win over magic words and the default. */
  enqueue(...answers: FakeGeminiAnswer[]): void {
    this.#queue.push(...answers);
  }

  setDefaultAnswer(answer: FakeGeminiAnswer): void {
    this.#defaultAnswer = answer;
  }

  setLatency(ms: number): void {
    this.#latencyMs = ms;
  }

  /** The models served from now on; null serves every id. */
  setModels(models: readonly string[] | null): void {
    this.#models = models === null ? null : new Set(models);
  }

  setAllowedKeys(keys: readonly string[] | null): void {
    this.#allowedKeys = keys === null ? null : new Set(keys);
  }

  /** Forgets recorded requests, queued answers and counters, keeping the options. */
  reset(): void {
    this.requests.length = 0;
    this.listingRequests.length = 0;
    this.#queue.length = 0;
    this.#magicWordUses.clear();
    this.#maxInFlight = this.#inFlight;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    // Hanging answers would otherwise keep close() waiting forever.
    this.#server.closeAllConnections();
    await closed;
  }

  /** Google's answer to a missing or refused key, or null when the key may go on. */
  #keyRefusal(apiKey: string | null): FakeResponse | null {
    if (apiKey === null || apiKey === "") return missingKeyBody();
    if (this.#allowedKeys !== null && !this.#allowedKeys.has(apiKey)) return invalidKeyBody();
    return null;
  }

  /** models.get (one model) and models.list (`model` undefined), behind the same key checks. */
  #answerListing(response: ServerResponse, apiKey: string | null, model: string | undefined): void {
    const refusal = this.#keyRefusal(apiKey);
    if (refusal !== null) {
      send(response, refusal);
      return;
    }
    if (model === undefined) {
      const served = this.#models === null ? LISTED_IMAGE_MODELS : [...this.#models];
      send(response, { status: 200, body: { models: served.map(modelResource) } });
      return;
    }
    if (this.#models !== null && !this.#models.has(model)) {
      send(response, errorBody(404, `models/${model} is not found for API version v1beta, or is not supported for generateContent.`));
      return;
    }
    send(response, { status: 200, body: modelResource(model) });
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    this.#inFlight += 1;
    this.#maxInFlight = Math.max(this.#maxInFlight, this.#inFlight);
    response.once("close", () => {
      this.#inFlight -= 1;
    });

    const rawBody = await readBody(request);
    const url = new URL(request.url ?? "/", "http://fake");
    const route = GENERATE_PATH.exec(url.pathname);
    const body = parseJson(rawBody);
    const prompt = promptOf(body);
    const aspectRatio = imageConfigField(body, "aspectRatio");
    const imageSize = imageConfigField(body, "imageSize");
    const inputImages = inputImagesOf(body);
    const apiKey = headerValue(request.headers["x-goog-api-key"]) ?? url.searchParams.get("key");
    const listing = request.method === "GET" ? (MODEL_PATH.exec(url.pathname) ?? LIST_PATH.exec(url.pathname)) : null;
    (listing === null ? this.requests : this.listingRequests).push({
      method: request.method ?? "GET",
      path: url.pathname,
      apiVersion: route?.[1] ?? null,
      model: route?.[2] ?? listing?.[2] ?? null,
      headers: request.headers,
      apiKey,
      body,
      prompt,
      aspectRatio,
      imageSize,
      inputImages,
      receivedAt: Date.now(),
    });

    if (listing !== null) {
      this.#answerListing(response, apiKey, listing[2]);
      return;
    }
    const model = route?.[2];
    if (request.method !== "POST" || model === undefined) {
      send(response, errorBody(404, `Method not found: ${request.method ?? ""} ${url.pathname}`));
      return;
    }
    const refusal = this.#keyRefusal(apiKey);
    if (refusal !== null) {
      send(response, refusal);
      return;
    }
    if (body === null || prompt === null) {
      send(response, errorBody(400, "Invalid JSON payload received."));
      return;
    }
    if (this.#models !== null && !this.#models.has(model)) {
      send(
        response,
        errorBody(404, `models/${model} is not found for API version ${route?.[1] ?? ""}, or is not supported for generateContent.`),
      );
      return;
    }
    const outcome = await requestedSize(model, body, aspectRatio, imageSize, inputImages);
    if ("refusal" in outcome) {
      send(response, outcome.refusal);
      return;
    }

    const answer = this.#nextAnswer(prompt);
    await wait(this.#latencyMs + (answer.delayMs ?? 0));
    if (response.destroyed) {
      return;
    }
    if (answer.kind === "hang") {
      return;
    }
    if (answer.kind === "malformed-json") {
      response.writeHead(200, { "content-type": "application/json; charset=UTF-8" });
      response.end('{"candidates":[{"content":{"role":"model","parts":[{"inlineData":{"mimeType":"image/png","da');
      return;
    }
    send(response, await this.#answer(answer, model, prompt, outcome.size, modalitiesOf(body)));
  }

  #nextAnswer(prompt: string): FakeGeminiAnswer {
    const queued = this.#queue.shift();
    if (queued !== undefined) {
      return queued;
    }
    const magic = parseMagicWord(prompt);
    if (magic !== null) {
      const uses = (this.#magicWordUses.get(prompt) ?? 0) + 1;
      this.#magicWordUses.set(prompt, uses);
      if (magic.times === null || uses <= magic.times) {
        return magic.answer;
      }
    }
    return this.#defaultAnswer;
  }

  async #answer(
    answer: FakeGeminiAnswer,
    model: string,
    prompt: string,
    size: PixelSize,
    modalities: string[],
  ): Promise<FakeResponse> {
    const promptTokens = Math.max(1, Math.ceil(prompt.length / 4));
    // With TEXT allowed the model usually says a few words before the image.
    const preamble: ContentPart[] = modalities.includes("TEXT") ? [{ text: "Here is your image." }] : [];
    switch (answer.kind) {
      case "image": {
        const png = await this.#images.get(size.width, size.height, "png");
        return candidateBody(model, promptTokens, { parts: [...preamble, inline("image/png", png)], finishReason: "STOP" });
      }
      case "jpeg-as-png": {
        const jpeg = await this.#images.get(size.width, size.height, "jpeg");
        return candidateBody(model, promptTokens, { parts: [...preamble, inline("image/png", jpeg)], finishReason: "STOP" });
      }
      case "thought-images": {
        const draft = await this.#images.get(FAKE_GEMINI_THOUGHT_SIZE.width, FAKE_GEMINI_THOUGHT_SIZE.height, "png");
        const final = await this.#images.get(size.width, size.height, "png");
        const thoughts = Array.from({ length: answer.thoughts ?? 2 }, (): ContentPart[] => [
          { text: "**Composing the scene**\n\nSketching the layout first.", thought: true },
          { ...inline("image/png", draft), thought: true },
        ]).flat();
        return candidateBody(model, promptTokens, { parts: [...thoughts, inline("image/png", final)], finishReason: "STOP" });
      }
      case "blocked":
        return blockedBody(model, promptTokens, answer.blockReason ?? "PROHIBITED_CONTENT");
      case "finish":
        return candidateBody(model, promptTokens, {
          parts: answer.text === undefined ? null : [{ text: answer.text }],
          finishReason: answer.finishReason,
        });
      case "text-only":
        return candidateBody(model, promptTokens, {
          parts: [{ text: answer.text ?? "I can't create that image, but I can describe it for you." }],
          finishReason: "STOP",
        });
      case "empty-parts":
        return candidateBody(model, promptTokens, { parts: [], finishReason: "STOP" });
      case "rate-limited":
        return rateLimitedBody(model, answer.retryDelay === undefined ? "2s" : answer.retryDelay);
      case "status":
        return errorBody(answer.status, answer.message, answer.details);
      case "invalid-key":
        return invalidKeyBody();
      case "hang":
      case "malformed-json":
        throw new Error(`${answer.kind} is answered before reaching here`);
    }
  }
}

function inline(mimeType: string, bytes: Buffer): ContentPart {
  return { inlineData: { mimeType, data: bytes.toString("base64") } };
}

function send(response: ServerResponse, answer: FakeResponse): void {
  const text = JSON.stringify(answer.body);
  response.writeHead(answer.status, {
    "content-type": "application/json; charset=UTF-8",
    "content-length": Buffer.byteLength(text),
  });
  response.end(text);
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function wait(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

function headerValue(value: string | string[] | undefined): string | null {
  return (Array.isArray(value) ? value[0] : value) ?? null;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

/** The concatenated text parts of the first content, where the SDK puts the prompt. */
function promptOf(body: unknown): string | null {
  const contents = field(body, "contents");
  if (!Array.isArray(contents) || contents.length === 0) {
    return null;
  }
  const parts = field(contents[0], "parts");
  if (!Array.isArray(parts)) {
    return null;
  }
  return parts
    .map((part) => field(part, "text"))
    .filter((text): text is string => typeof text === "string")
    .join("\n");
}

function imageConfigField(body: unknown, name: "aspectRatio" | "imageSize"): string | null {
  const value = field(field(field(body, "generationConfig"), "imageConfig"), name);
  return typeof value === "string" ? value : null;
}

/** The inlineData parts of the first content, where the SDK puts the prompt and its images. */
function inputImagesOf(body: unknown): RecordedInputImage[] {
  const contents = field(body, "contents");
  const parts = Array.isArray(contents) ? field(contents[0], "parts") : undefined;
  if (!Array.isArray(parts)) return [];
  return parts.flatMap((part): RecordedInputImage[] => {
    const inlineData = field(part, "inlineData");
    if (inlineData === undefined) return [];
    const mimeType = field(inlineData, "mimeType");
    const data = field(inlineData, "data");
    return [
      {
        mimeType: typeof mimeType === "string" ? mimeType : null,
        data: typeof data === "string" ? data : null,
        bytes: typeof data === "string" ? Buffer.from(data, "base64") : Buffer.alloc(0),
      },
    ];
  });
}

function hasGoogleSearch(body: unknown): boolean {
  const tools = field(body, "tools");
  return Array.isArray(tools) && tools.some((tool) => field(tool, "googleSearch") !== undefined);
}

/**
 * Checks the request as Google does for the model asked (a 400 INVALID_ARGUMENT for what it does
 * not accept), and says how large the image answered will be: the ratio's at the imageSize asked,
 * or, with no ratio, square, or the shape of the last input image (as the upstream follows it).
 */
async function requestedSize(
  modelId: string,
  body: unknown,
  aspectRatio: string | null,
  imageSize: string | null,
  inputImages: readonly RecordedInputImage[],
): Promise<{ size: PixelSize } | { refusal: FakeResponse }> {
  const model = fakeGeminiModel(modelId);
  const refuse = (message: string) => ({ refusal: errorBody(400, message) });
  if (aspectRatio !== null && !model.ratios.includes(aspectRatio)) return refuse(`Unsupported aspect ratio: ${aspectRatio}`);
  if (imageSize !== null && model.imageSizes.length === 0) return refuse(`Image size is not supported for models/${modelId}.`);
  if (imageSize !== null && !model.imageSizes.includes(imageSize)) {
    return refuse(`Unsupported image size: ${imageSize}. Supported values are ${model.imageSizes.join(", ")}.`);
  }
  if (hasGoogleSearch(body) && !model.googleSearch) return refuse(`Search as tool is not enabled for models/${modelId}.`);
  if (field(field(body, "generationConfig"), "thinkingConfig") !== undefined && !model.thinking) {
    return refuse(`Thinking is not supported by models/${modelId}.`);
  }
  let lastShape: PixelSize | null = null;
  for (const [index, image] of inputImages.entries()) {
    if (image.mimeType === null || !INPUT_IMAGE_TYPES.has(image.mimeType)) {
      return refuse(`Unsupported MIME type: ${image.mimeType ?? "(none)"}`);
    }
    if (image.data === null || image.data === "" || !BASE64.test(image.data)) {
      return refuse(`Invalid value at 'contents[0].parts[${index + 1}].inline_data.data' (TYPE_BYTES), Base64 decoding failed`);
    }
    try {
      const metadata = await sharp(image.bytes).metadata();
      lastShape = { width: metadata.width, height: metadata.height };
    } catch {
      return refuse("Unable to process input image. Please retry or report in https://developers.generativeai.google/guide/troubleshooting");
    }
  }
  const ratio = aspectRatio ?? (lastShape === null ? "1:1" : nearestRatio(model, lastShape.width, lastShape.height));
  return { size: model.sizeOf(ratio, imageSize) };
}

function modalitiesOf(body: unknown): string[] {
  const modalities = field(field(body, "generationConfig"), "responseModalities");
  // The upstream's default is TEXT and IMAGE.
  return Array.isArray(modalities) ? modalities.filter((entry): entry is string => typeof entry === "string") : ["TEXT", "IMAGE"];
}
