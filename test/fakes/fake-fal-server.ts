import { randomUUID } from "node:crypto";
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

/** How the fake answers one submitted request, in fal's queue wire format. */
export type FakeFalAnswer =
  /** A PNG (or JPEG): IN_QUEUE for queuedMs, IN_PROGRESS for runningMs, then COMPLETED. */
  | { kind: "image"; queuedMs?: number; runningMs?: number; format?: "png" | "jpeg" }
  /** IN_PROGRESS until canceled. */
  | { kind: "stuck" }
  /** The submit itself never answers. */
  | { kind: "hang" }
  /** fal's 422 with a `content_policy_violation` detail, at the submit or (as the checker runs) at the result. */
  | { kind: "content-policy"; at?: "submit" | "result" }
  /** COMPLETED with `images: []` and a description (the model declined). */
  | { kind: "no-images" }
  /** COMPLETED with a result cut short mid-JSON. */
  | { kind: "malformed-result" }
  /** 429 at the submit, with Retry-After when given. */
  | { kind: "rate-limited"; retryAfterSeconds?: number }
  /** This status at the submit or at the result, with fal's `{detail}` body. */
  | { kind: "status"; status: number; at?: "submit" | "result"; detail?: unknown }
  /** 401 at the submit, as for a wrong key. */
  | { kind: "bad-key" };

export interface RecordedFalSubmit {
  /** The endpoint id posted to, e.g. fal-ai/nano-banana-pro/edit. */
  endpoint: string;
  /** The key of `Authorization: Key <key>`, or null without one. */
  apiKey: string | null;
  body: unknown;
  prompt: string | null;
  /** image_urls as read: data: URIs decoded, URLs as given. */
  images: ReadImageReference[];
  /** The request id given, or null when the submit was refused. */
  requestId: string | null;
  receivedAt: number;
}

export interface RecordedFalDownload {
  path: string;
  /** Whether an Authorization header came along (it must not: the CDN is not fal's API). */
  authorization: string | null;
}

export interface FakeFalOptions {
  /** When set, other keys get 401. */
  allowedKeys?: readonly string[];
  /** Latency added to every answer. */
  latencyMs?: number;
}

interface Family {
  ratios: readonly string[];
  resolution: boolean;
}

/** fal's endpoints as their API pages list them, kept apart from the adapter's table on purpose. */
const FAMILIES: Readonly<Record<string, Family>> = {
  "fal-ai/nano-banana": { ratios: BASE_RATIOS, resolution: false },
  "fal-ai/nano-banana-pro": { ratios: [...BASE_RATIOS, "auto"], resolution: true },
  "fal-ai/nano-banana-2": { ratios: [...BASE_RATIOS, "auto"], resolution: true },
};

const OUTPUT_FORMATS = ["jpeg", "png", "webp"];
const RESOLUTIONS = ["1K", "2K", "4K"];

interface Job {
  id: string;
  app: string;
  answer: FakeFalAnswer;
  submittedAt: number;
  canceled: boolean;
  size: { width: number; height: number };
}

/**
 * A stand-in for fal's queue API (queue.fal.run) and its CDN: submit, status, result, cancel, and
 * the image downloads, all on one loopback port. Answers come from the script (`enqueue`), then
 * the default (an image after a short IN_QUEUE and IN_PROGRESS).
 */
export class FakeFalServer {
  readonly submits: RecordedFalSubmit[] = [];
  readonly statusPolls: string[] = [];
  readonly cancels: string[] = [];
  readonly downloads: RecordedFalDownload[] = [];
  readonly #http: FakeHttp;
  readonly #queue: FakeFalAnswer[] = [];
  readonly #jobs = new Map<string, Job>();
  readonly #images = new FakeImageCache();
  readonly #allowedKeys: ReadonlySet<string> | null;
  #latencyMs: number;
  #defaultAnswer: FakeFalAnswer = { kind: "image", queuedMs: 20, runningMs: 40 };

  private constructor(http: FakeHttp, options: FakeFalOptions) {
    this.#http = http;
    this.#allowedKeys = options.allowedKeys === undefined ? null : new Set(options.allowedKeys);
    this.#latencyMs = options.latencyMs ?? 0;
  }

  static async start(options: FakeFalOptions = {}): Promise<FakeFalServer> {
    let fake: FakeFalServer | null = null;
    const http = await startFakeHttp(async (request, response, body) => {
      if (fake === null) throw new Error("not started");
      await fake.#handle(request, response, body);
    });
    fake = new FakeFalServer(http, options);
    return fake;
  }

  get url(): string {
    return this.#http.url;
  }

  enqueue(...answers: FakeFalAnswer[]): void {
    this.#queue.push(...answers);
  }

  setDefaultAnswer(answer: FakeFalAnswer): void {
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
    const queueRoute = /^\/(.+?)\/requests\/([^/]+)(\/status|\/cancel)?$/.exec(path);
    const apiKey = keyOf(header(request, "authorization"));
    if (queueRoute !== null) {
      if (!this.#keyAccepted(apiKey)) return sendJson(response, 401, { detail: "Invalid authorization credentials." });
      const job = this.#jobs.get(queueRoute[2] as string);
      if (job === undefined || job.app !== queueRoute[1]) return sendJson(response, 404, { detail: "Request not found." });
      const action = queueRoute[3];
      if (method === "GET" && action === "/status") return this.#status(response, job);
      if (method === "PUT" && action === "/cancel") return this.#cancel(response, job);
      if (method === "GET" && action === undefined) return this.#result(response, job);
      return sendJson(response, 405, { detail: "Method not allowed." });
    }
    if (method === "POST") return this.#submit(request, response, path.slice(1), rawBody, apiKey);
    sendJson(response, 404, { detail: `Not found: ${method} ${path}` });
  }

  #keyAccepted(apiKey: string | null): boolean {
    return apiKey !== null && (this.#allowedKeys === null || this.#allowedKeys.has(apiKey));
  }

  async #submit(request: IncomingMessage, response: ServerResponse, endpoint: string, rawBody: string, apiKey: string | null): Promise<void> {
    const body = parseJson(rawBody);
    const prompt = isObject(body) && typeof body.prompt === "string" ? body.prompt : null;
    const rawImages = isObject(body) && Array.isArray(body.image_urls) ? body.image_urls : [];
    const images = rawImages.map(readImageReference).filter((image): image is ReadImageReference => image !== null);
    const record: RecordedFalSubmit = { endpoint, apiKey, body, prompt, images, requestId: null, receivedAt: Date.now() };
    this.submits.push(record);

    if (apiKey === null) return sendJson(response, 401, { detail: "Missing authorization header. Use 'Authorization: Key <key>'." });
    const answer = this.#queue.shift() ?? this.#defaultAnswer;
    if (answer.kind === "bad-key" || !this.#keyAccepted(apiKey)) {
      return sendJson(response, 401, { detail: "Invalid authorization credentials." });
    }
    const app = appOf(endpoint);
    const family = FAMILIES[app];
    if (family === undefined || !/^fal-ai\/[\w.-]+(\/edit)?$/.test(endpoint)) {
      return sendJson(response, 404, { detail: `Application '${endpoint}' not found.` });
    }
    const invalid = validate(body, endpoint.endsWith("/edit"), family, rawImages, images);
    if (invalid !== null) return sendJson(response, 422, { detail: [invalid] });

    switch (answer.kind) {
      case "hang":
        return;
      case "rate-limited":
        return sendJson(
          response,
          429,
          { detail: "Rate limit exceeded." },
          answer.retryAfterSeconds === undefined ? {} : { "retry-after": String(answer.retryAfterSeconds) },
        );
      case "status":
        if ((answer.at ?? "submit") === "submit") return sendJson(response, answer.status, { detail: answer.detail ?? "Internal server error." });
        break;
      case "content-policy":
        if ((answer.at ?? "result") === "submit") return sendJson(response, 422, { detail: [contentPolicyDetail()] });
        break;
      default:
        break;
    }
    const input = body as Record<string, unknown>;
    const ratio = typeof input.aspect_ratio === "string" && input.aspect_ratio !== "auto" ? (input.aspect_ratio as AspectRatio) : "1:1";
    const resolution = typeof input.resolution === "string" ? (input.resolution as Resolution) : "1K";
    const id = randomUUID();
    record.requestId = id;
    this.#jobs.set(id, { id, app, answer, submittedAt: Date.now(), canceled: false, size: pixelSize(ratio, resolution) });
    const base = `${this.url}/${app}/requests/${id}`;
    sendJson(response, 200, {
      status: "IN_QUEUE",
      request_id: id,
      response_url: base,
      status_url: `${base}/status`,
      cancel_url: `${base}/cancel`,
      logs: null,
      metrics: {},
      queue_position: 0,
    });
  }

  #state(job: Job): "IN_QUEUE" | "IN_PROGRESS" | "COMPLETED" {
    if (job.canceled) return "COMPLETED";
    if (job.answer.kind === "stuck") return "IN_PROGRESS";
    const elapsed = Date.now() - job.submittedAt;
    const queuedMs = job.answer.kind === "image" ? (job.answer.queuedMs ?? 0) : 0;
    const runningMs = job.answer.kind === "image" ? (job.answer.runningMs ?? 0) : 0;
    if (elapsed < queuedMs) return "IN_QUEUE";
    if (elapsed < queuedMs + runningMs) return "IN_PROGRESS";
    return "COMPLETED";
  }

  #status(response: ServerResponse, job: Job): void {
    this.statusPolls.push(job.id);
    const status = this.#state(job);
    const base = `${this.url}/${job.app}/requests/${job.id}`;
    sendJson(response, status === "COMPLETED" ? 200 : 202, {
      status,
      request_id: job.id,
      response_url: base,
      status_url: `${base}/status`,
      cancel_url: `${base}/cancel`,
      logs: null,
      metrics: status === "COMPLETED" ? { inference_time: 1.2 } : {},
      ...(status === "IN_QUEUE" ? { queue_position: 0 } : {}),
    });
  }

  #cancel(response: ServerResponse, job: Job): void {
    this.cancels.push(job.id);
    if (this.#state(job) === "COMPLETED") return sendJson(response, 400, { status: "ALREADY_COMPLETED" });
    job.canceled = true;
    sendJson(response, 202, { status: "CANCELLATION_REQUESTED" });
  }

  async #result(response: ServerResponse, job: Job): Promise<void> {
    if (this.#state(job) !== "COMPLETED") return sendJson(response, 400, { detail: "Request is still in progress." });
    if (job.canceled) return sendJson(response, 400, { detail: "Request was cancelled." });
    const answer = job.answer;
    switch (answer.kind) {
      case "content-policy":
        return sendJson(response, 422, { detail: [contentPolicyDetail()] });
      case "status":
        return sendJson(response, answer.status, { detail: answer.detail ?? "Internal server error." });
      case "no-images":
        return sendJson(response, 200, { images: [], description: "I can't make that image, but I can describe it." });
      case "malformed-result":
        response.writeHead(200, { "content-type": "application/json" });
        response.end('{"images":[{"url":"http://');
        return;
      default: {
        const format = answer.kind === "image" ? (answer.format ?? "png") : "png";
        const { width, height } = job.size;
        const bytes = await this.#images.get(width, height, format);
        sendJson(response, 200, {
          images: [
            {
              url: `${this.url}/files/${job.id}.${format}`,
              content_type: `image/${format}`,
              file_name: `${job.id}.${format}`,
              file_size: bytes.length,
              width,
              height,
            },
          ],
          description: "",
        });
      }
    }
  }

  async #download(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    this.downloads.push({ path, authorization: header(request, "authorization") });
    const match = /^\/files\/([^/.]+)\.(png|jpeg)$/.exec(path);
    const job = match === null ? undefined : this.#jobs.get(match[1] as string);
    if (match === null || job === undefined) return sendJson(response, 404, { detail: "File not found." });
    const format = match[2] as "png" | "jpeg";
    sendBytes(response, await this.#images.get(job.size.width, job.size.height, format), `image/${format}`);
  }
}

/** The app of an endpoint id: its first two segments (fal-ai/nano-banana-pro of fal-ai/nano-banana-pro/edit). */
function appOf(endpoint: string): string {
  return endpoint.split("/").slice(0, 2).join("/");
}

function keyOf(authorization: string | null): string | null {
  const match = /^Key (.+)$/.exec(authorization ?? "");
  return match === null ? null : (match[1] as string);
}

function contentPolicyDetail(): Record<string, unknown> {
  return {
    loc: ["body", "prompt"],
    msg: "The content was flagged by a content checker.",
    type: "content_policy_violation",
    url: "https://docs.fal.ai/errors#content_policy_violation",
    input: "the flagged input",
    categories: ["sexual"],
  };
}

/** fal's validation, strict where fal is: a wrong field shows as the 422 fal would send. */
function validate(
  body: unknown,
  edit: boolean,
  family: Family,
  rawImages: unknown[],
  images: ReadImageReference[],
): Record<string, unknown> | null {
  const error = (field: string, msg: string): Record<string, unknown> => ({ loc: ["body", field], msg, type: "value_error" });
  if (!isObject(body)) return error("body", "Input should be a valid object");
  if (typeof body.prompt !== "string" || body.prompt === "") return error("prompt", "Field required");
  if (body.num_images !== undefined && (!Number.isInteger(body.num_images) || (body.num_images as number) < 1 || (body.num_images as number) > 4)) {
    return error("num_images", "Input should be between 1 and 4");
  }
  if (body.output_format !== undefined && !OUTPUT_FORMATS.includes(String(body.output_format))) {
    return error("output_format", `Input should be ${OUTPUT_FORMATS.join(", ")}`);
  }
  if (body.aspect_ratio !== undefined && !family.ratios.includes(String(body.aspect_ratio))) {
    return error("aspect_ratio", `Input should be ${family.ratios.join(", ")}`);
  }
  if (body.resolution !== undefined && (!family.resolution || !RESOLUTIONS.includes(String(body.resolution)))) {
    return error("resolution", family.resolution ? `Input should be ${RESOLUTIONS.join(", ")}` : "Extra inputs are not permitted");
  }
  if (body.safety_tolerance !== undefined && !["1", "2", "3", "4", "5", "6"].includes(String(body.safety_tolerance))) {
    return error("safety_tolerance", "Input should be 1 to 6");
  }
  if (edit && rawImages.length === 0) return error("image_urls", "Field required");
  if (!edit && body.image_urls !== undefined) return error("image_urls", "Extra inputs are not permitted");
  if (images.length !== rawImages.length) return error("image_urls", "Input should be a valid URL or data URI");
  return null;
}
