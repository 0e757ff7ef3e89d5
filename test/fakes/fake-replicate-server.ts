import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { BASE_RATIOS, pixelSize, type AspectRatio, type Resolution } from "../../src/domain/catalog/aspect-ratios.ts";
import { FakeImageCache } from "./fake-gemini-images.ts";
import {
  header,
  isObject,
  parseJson,
  readImageReference,
  sendBytes,
  sendJson,
  startFakeHttp,
  wait,
  type FakeHttp,
  type ReadImageReference,
} from "./fake-http.ts";

/** How the fake answers one create-prediction call, in Replicate's wire format. */
export type FakeReplicateAnswer =
  /** Succeeds after runMs with a PNG (or JPEG) file URL as `output` (a string, or an array of one). */
  | { kind: "image"; runMs?: number; format?: "png" | "jpg"; outputAs?: "string" | "array" }
  /** `processing` until canceled. */
  | { kind: "stuck" }
  /** The create call itself never answers. */
  | { kind: "hang" }
  /** Fails after runMs with this `error` (Replicate's E005 sensitive-content text unless given). */
  | { kind: "failed"; error?: string; runMs?: number }
  /** Succeeds with `output: null`. */
  | { kind: "no-output" }
  /** The create call answers 201 with JSON cut short. */
  | { kind: "malformed" }
  /** 429 with Retry-After (header) or `retry_after` (body). */
  | { kind: "rate-limited"; retryAfterSeconds?: number; via?: "header" | "body" }
  /** This status at the create call, with Replicate's problem body. */
  | { kind: "status"; status: number; detail?: string }
  /** 401, as for a wrong token. */
  | { kind: "bad-token" }
  /** 402, as for an account out of credit. */
  | { kind: "billing" };

export const E005 = "The input or output was flagged as sensitive. Please try again with different inputs. (E005)";

export interface RecordedReplicateCreate {
  /** owner/name from the path. */
  model: string;
  token: string | null;
  /** The Prefer header as sent, e.g. "wait=12"; null without one. */
  prefer: string | null;
  /** The seconds of `Prefer: wait=N`; 60 for a bare `wait`; null without one. */
  waitSeconds: number | null;
  /** The Cancel-After header as sent (a duration: "65s", "1m"); null without one. */
  cancelAfter: string | null;
  body: unknown;
  prompt: string | null;
  images: ReadImageReference[];
  predictionId: string | null;
  receivedAt: number;
}

export interface RecordedReplicateDownload {
  path: string;
  authorization: string | null;
}

export interface FakeReplicateOptions {
  /** When set, other tokens get 401. */
  allowedTokens?: readonly string[];
  latencyMs?: number;
}

interface ModelSchema {
  resolution: boolean;
  safetyFilter: boolean;
}

/** Replicate's models as their API pages list the input schema; kept apart from the adapter's table on purpose. */
const MODELS: Readonly<Record<string, ModelSchema>> = {
  "google/nano-banana": { resolution: false, safetyFilter: false },
  "google/nano-banana-pro": { resolution: true, safetyFilter: true },
  "google/nano-banana-2": { resolution: true, safetyFilter: false },
};

const RATIOS: readonly string[] = [...BASE_RATIOS, "match_input_image"];
const SAFETY_LEVELS = ["block_low_and_above", "block_medium_and_above", "block_only_high"];
const MAX_WAIT_SECONDS = 60;

interface Prediction {
  id: string;
  model: string;
  input: Record<string, unknown>;
  answer: FakeReplicateAnswer;
  createdAt: number;
  /** Epoch ms of the Cancel-After deadline. */
  cancelAt: number | null;
  canceled: boolean;
  size: { width: number; height: number };
}

/**
 * A stand-in for Replicate's predictions API and its file delivery on one loopback port: create
 * (with `Prefer: wait` held as Replicate holds it), get, cancel, and the output downloads. Answers
 * come from the script (`enqueue`), then the default (an image after a short run).
 */
export class FakeReplicateServer {
  readonly creates: RecordedReplicateCreate[] = [];
  readonly polls: string[] = [];
  readonly cancels: string[] = [];
  readonly downloads: RecordedReplicateDownload[] = [];
  readonly #http: FakeHttp;
  readonly #queue: FakeReplicateAnswer[] = [];
  readonly #predictions = new Map<string, Prediction>();
  readonly #images = new FakeImageCache();
  readonly #allowedTokens: ReadonlySet<string> | null;
  #latencyMs: number;
  #defaultAnswer: FakeReplicateAnswer = { kind: "image", runMs: 30 };

  private constructor(http: FakeHttp, options: FakeReplicateOptions) {
    this.#http = http;
    this.#allowedTokens = options.allowedTokens === undefined ? null : new Set(options.allowedTokens);
    this.#latencyMs = options.latencyMs ?? 0;
  }

  static async start(options: FakeReplicateOptions = {}): Promise<FakeReplicateServer> {
    let fake: FakeReplicateServer | null = null;
    const http = await startFakeHttp(async (request, response, body) => {
      if (fake === null) throw new Error("not started");
      await fake.#handle(request, response, body);
    });
    fake = new FakeReplicateServer(http, options);
    return fake;
  }

  get url(): string {
    return this.#http.url;
  }

  enqueue(...answers: FakeReplicateAnswer[]): void {
    this.#queue.push(...answers);
  }

  setDefaultAnswer(answer: FakeReplicateAnswer): void {
    this.#defaultAnswer = answer;
  }

  setLatency(ms: number): void {
    this.#latencyMs = ms;
  }

  close(): Promise<void> {
    return this.#http.close();
  }

  async #handle(request: IncomingMessage, response: ServerResponse, rawBody: string): Promise<void> {
    await wait(this.#latencyMs);
    const path = new URL(request.url ?? "/", "http://fake").pathname;
    const method = request.method ?? "GET";
    if (method === "GET" && path.startsWith("/files/")) return this.#download(request, response, path);
    const token = tokenOf(header(request, "authorization"));
    const create = /^\/v1\/models\/([^/]+)\/([^/]+)\/predictions$/.exec(path);
    if (method === "POST" && create !== null) return this.#create(request, response, `${create[1]}/${create[2]}`, rawBody, token);
    const one = /^\/v1\/predictions\/([^/]+)(\/cancel)?$/.exec(path);
    if (one !== null) {
      if (!this.#tokenAccepted(token)) return problem(response, 401, "Unauthenticated", "You did not pass a valid authentication token");
      const prediction = this.#predictions.get(one[1] as string);
      if (prediction === undefined) return problem(response, 404, "Not found", "The requested resource could not be found.");
      if (method === "GET" && one[2] === undefined) {
        this.polls.push(prediction.id);
        return sendJson(response, 200, this.#render(prediction));
      }
      if (method === "POST" && one[2] === "/cancel") {
        this.cancels.push(prediction.id);
        if (!isTerminal(this.#status(prediction))) prediction.canceled = true;
        return sendJson(response, 200, this.#render(prediction));
      }
    }
    problem(response, 404, "Not found", "The requested resource could not be found.");
  }

  #tokenAccepted(token: string | null): boolean {
    return token !== null && (this.#allowedTokens === null || this.#allowedTokens.has(token));
  }

  async #create(request: IncomingMessage, response: ServerResponse, model: string, rawBody: string, token: string | null): Promise<void> {
    const body = parseJson(rawBody);
    const input = isObject(body) && isObject(body.input) ? body.input : null;
    const rawImages = input !== null && Array.isArray(input.image_input) ? input.image_input : [];
    const images = rawImages.map(readImageReference).filter((image): image is ReadImageReference => image !== null);
    const prefer = header(request, "prefer");
    const record: RecordedReplicateCreate = {
      model,
      token,
      prefer,
      waitSeconds: waitOf(prefer),
      cancelAfter: header(request, "cancel-after"),
      body,
      prompt: input !== null && typeof input.prompt === "string" ? input.prompt : null,
      images,
      predictionId: null,
      receivedAt: Date.now(),
    };
    this.creates.push(record);

    if (token === null) return problem(response, 401, "Unauthenticated", "You did not pass an authentication token");
    const cancelAfterMs = record.cancelAfter === null ? null : durationMs(record.cancelAfter);
    if (cancelAfterMs !== null && Number.isNaN(cancelAfterMs)) {
      return problem(response, 400, "Invalid Cancel-After header", `Cancel-After must be a duration such as 30s or 1m, got ${record.cancelAfter}`);
    }
    const answer = this.#queue.shift() ?? this.#defaultAnswer;
    if (answer.kind === "bad-token" || !this.#tokenAccepted(token)) {
      return problem(response, 401, "Unauthenticated", "You did not pass a valid authentication token");
    }
    const schema = MODELS[model];
    if (schema === undefined) return problem(response, 404, "Not found", "The requested resource could not be found.");
    const invalid = validate(input, schema, rawImages.length === images.length);
    if (invalid !== null) {
      return sendJson(response, 422, { title: "Input validation failed", detail: `- ${invalid.field}: ${invalid.description}`, status: 422, invalid_fields: [{ type: "invalid", ...invalid }] });
    }
    switch (answer.kind) {
      case "hang":
        return;
      case "billing":
        return problem(response, 402, "Insufficient credit", "You have insufficient credit to run this model. Go to https://replicate.com/account/billing to purchase credit.");
      case "status":
        return problem(response, answer.status, "Internal server error", answer.detail ?? "Something went wrong.");
      case "rate-limited": {
        const seconds = answer.retryAfterSeconds;
        const viaHeader = (answer.via ?? "header") === "header" && seconds !== undefined;
        return sendJson(
          response,
          429,
          {
            title: "Request was throttled.",
            detail: `Request was throttled. Expected available in ${seconds ?? 1} second.`,
            status: 429,
            ...(answer.via === "body" && seconds !== undefined ? { retry_after: seconds } : {}),
          },
          viaHeader ? { "retry-after": String(seconds) } : {},
        );
      }
      case "malformed":
        response.writeHead(201, { "content-type": "application/json" });
        response.end('{"id":"x","status":"succ');
        return;
      default:
        break;
    }
    const inputs = input as Record<string, unknown>;
    const ratio = typeof inputs.aspect_ratio === "string" && RATIOS.includes(inputs.aspect_ratio) && inputs.aspect_ratio !== "match_input_image" ? (inputs.aspect_ratio as AspectRatio) : "1:1";
    const resolution = typeof inputs.resolution === "string" ? (inputs.resolution as Resolution) : "1K";
    const id = randomBytes(13).toString("hex").slice(0, 26);
    record.predictionId = id;
    const prediction: Prediction = {
      id,
      model,
      input: inputs,
      answer,
      createdAt: Date.now(),
      cancelAt: cancelAfterMs === null ? null : Date.now() + cancelAfterMs,
      canceled: false,
      size: pixelSize(ratio, resolution),
    };
    this.#predictions.set(id, prediction);

    // Sync mode: the connection is held until the prediction ends or the wait runs out.
    if (record.waitSeconds !== null) {
      const holdUntil = Date.now() + record.waitSeconds * 1000;
      while (Date.now() < holdUntil && !isTerminal(this.#status(prediction)) && !response.destroyed) await wait(10);
      if (response.destroyed) return;
    }
    sendJson(response, 201, this.#render(prediction));
  }

  #status(prediction: Prediction): string {
    if (prediction.canceled) return "canceled";
    const answer = prediction.answer;
    const runMs = answer.kind === "image" || answer.kind === "failed" ? (answer.runMs ?? 0) : 0;
    if (prediction.cancelAt !== null && Date.now() >= prediction.cancelAt && (answer.kind === "stuck" || prediction.createdAt + runMs > prediction.cancelAt)) {
      return "canceled";
    }
    if (answer.kind === "stuck") return "processing";
    const elapsed = Date.now() - prediction.createdAt;
    if (elapsed < Math.min(runMs, 10)) return "starting";
    if (elapsed < runMs) return "processing";
    return answer.kind === "failed" ? "failed" : "succeeded";
  }

  #render(prediction: Prediction): Record<string, unknown> {
    const status = this.#status(prediction);
    const answer = prediction.answer;
    let output: unknown = null;
    if (status === "succeeded" && answer.kind === "image") {
      const url = `${this.url}/files/${prediction.id}.${answer.format ?? "png"}`;
      output = answer.outputAs === "array" ? [url] : url;
    }
    const own = `${this.url}/v1/predictions/${prediction.id}`;
    return {
      id: prediction.id,
      model: prediction.model,
      version: "hidden",
      input: prediction.input,
      logs: "",
      output,
      data_removed: false,
      error: status === "failed" && answer.kind === "failed" ? (answer.error ?? E005) : null,
      status,
      created_at: new Date(prediction.createdAt).toISOString(),
      urls: { get: own, cancel: `${own}/cancel`, stream: `${this.url}/stream/${prediction.id}`, web: `https://replicate.com/p/${prediction.id}` },
      ...(isTerminal(status) ? { completed_at: new Date().toISOString(), metrics: { predict_time: 1.1 } } : {}),
    };
  }

  async #download(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    this.downloads.push({ path, authorization: header(request, "authorization") });
    const match = /^\/files\/([^/.]+)\.(png|jpg)$/.exec(path);
    const prediction = match === null ? undefined : this.#predictions.get(match[1] as string);
    if (match === null || prediction === undefined) return sendJson(response, 404, { detail: "Not found" });
    const format = match[2] === "jpg" ? "jpeg" : "png";
    sendBytes(response, await this.#images.get(prediction.size.width, prediction.size.height, format), `image/${format}`);
  }
}

function isTerminal(status: string): boolean {
  return status === "succeeded" || status === "failed" || status === "canceled";
}

function tokenOf(authorization: string | null): string | null {
  const match = /^(?:Bearer|Token) (.+)$/.exec(authorization ?? "");
  return match === null ? null : (match[1] as string);
}

/** `Prefer: wait=N` as Replicate reads it: 1 to 60 seconds, a bare `wait` meaning 60. */
function waitOf(prefer: string | null): number | null {
  if (prefer === null) return null;
  const match = /^\s*wait(?:=(\d+))?\s*$/.exec(prefer);
  if (match === null) return null;
  return Math.min(MAX_WAIT_SECONDS, Math.max(1, match[1] === undefined ? MAX_WAIT_SECONDS : Number(match[1])));
}

/** A Go-style duration as Replicate's Cancel-After takes it ("90s", "1m30s"); NaN when unreadable. */
function durationMs(text: string): number {
  const parts = [...text.trim().matchAll(/(\d+)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join("") !== text.trim()) return Number.NaN;
  const unit: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
  return parts.reduce((total, part) => total + Number(part[1]) * (unit[part[2] as string] as number), 0);
}

function problem(response: ServerResponse, status: number, title: string, detail: string): void {
  sendJson(response, status, { title, detail, status }, { "content-type": "application/problem+json" });
}

/** The input schema's checks, strict where Replicate is: a wrong field shows as the 422 it would send. */
function validate(input: Record<string, unknown> | null, schema: ModelSchema, imagesReadable: boolean): { field: string; description: string } | null {
  if (input === null) return { field: "input", description: "input is required" };
  if (typeof input.prompt !== "string" || input.prompt === "") return { field: "input.prompt", description: "prompt is required" };
  if (input.image_input !== undefined && (!Array.isArray(input.image_input) || !imagesReadable)) {
    return { field: "input.image_input", description: "each item must be a URI" };
  }
  if (input.aspect_ratio !== undefined && !RATIOS.includes(String(input.aspect_ratio))) {
    return { field: "input.aspect_ratio", description: `must be one of ${RATIOS.join(", ")}` };
  }
  if (input.aspect_ratio === "match_input_image" && (input.image_input as unknown[] | undefined)?.length === undefined) {
    return { field: "input.aspect_ratio", description: "match_input_image needs image_input" };
  }
  if (input.resolution !== undefined && (!schema.resolution || !["1K", "2K", "4K"].includes(String(input.resolution)))) {
    return { field: "input.resolution", description: schema.resolution ? "must be one of 1K, 2K, 4K" : "Additional property resolution is not allowed" };
  }
  if (input.output_format !== undefined && !["png", "jpg"].includes(String(input.output_format))) {
    return { field: "input.output_format", description: "must be one of png, jpg" };
  }
  if (input.safety_filter_level !== undefined && (!schema.safetyFilter || !SAFETY_LEVELS.includes(String(input.safety_filter_level)))) {
    return { field: "input.safety_filter_level", description: "Additional property safety_filter_level is not allowed" };
  }
  return null;
}
