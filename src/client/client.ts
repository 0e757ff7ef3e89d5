import { openAsBlob } from "node:fs";
import path from "node:path";
import type { UploadAnswerData } from "../api/routes/uploads.ts";
import type { TaskRecord, TaskState } from "../domain/tasks/task.ts";
import type { ModelView } from "../views/model-views.ts";

export type { ModelView, TaskRecord, TaskState };

/** A stored upload, as the upload routes answer it; `downloadUrl` works as an input image URL. */
export type UploadedFile = UploadAnswerData;

/** A file to upload: its bytes, or the path of a local file (read as it is sent). */
export type UploadFileInput = ({ bytes: Uint8Array } | { path: string }) & {
  /** The folder it goes into, e.g. "cli". */
  uploadPath: string;
  /**
   * Its name there; the same name again replaces the file. Absent: the path's base name made fit
   * for the server's rule (see uploadFileName), or a random name for bytes.
   */
  fileName?: string;
};

export interface CreateTaskInput {
  prompt: string;
  image_size?: string;
  aspect_ratio?: string;
  output_format?: "png" | "jpeg" | "jpg";
  nsfw_checker?: boolean;
}

export interface CreateTaskBody {
  model: string;
  input: CreateTaskInput | Record<string, unknown>;
  callBackUrl?: string;
}

export interface ClientOptions {
  baseUrl: string;
  apiKey: string;
  fetch?: typeof fetch;
}

/** An answer other than 200 from the API, or a transport failure (status 0). */
export class ImagegateApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly requestId: string | null = null,
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message);
    this.name = "ImagegateApiError";
  }
}

interface Envelope<T> {
  code: number;
  msg: string;
  data: T | null;
}

const TERMINAL: readonly TaskState[] = ["success", "fail"];

/** The longest upload fileName the server takes. */
const FILE_NAME_MAX = 100;

/**
 * A local file's base name as an upload fileName: characters other than letters, digits, - _ .
 * become "-", and a leading dot goes, so "my cat.png" is stored as "my-cat.png" instead of
 * being refused.
 */
export function uploadFileName(filePath: string): string {
  const name = path
    .basename(filePath)
    .replace(/[^A-Za-z0-9\-_.]/g, "-")
    .replace(/^\.+/, "")
    .replace(/\.meta\.json$/, ".meta-json");
  if (name.length <= FILE_NAME_MAX) return name === "" ? "file" : name;
  // Too long: the end is kept, since it holds the extension.
  return name.slice(name.length - FILE_NAME_MAX).replace(/^\.+/, "");
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      },
      { once: true },
    );
  });
}

/** A typed client for the imagegate HTTP API (the CLI's `generate` and the tests use it). */
export class ImagegateClient {
  private readonly baseUrl: string;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  async createTask(body: CreateTaskBody, options: { idempotencyKey?: string } = {}): Promise<string> {
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (options.idempotencyKey !== undefined) headers["Idempotency-Key"] = options.idempotencyKey;
    const data = await this.call<{ taskId: string }>("POST", "/api/v1/jobs/createTask", JSON.stringify(body), headers);
    return data.taskId;
  }

  /** Uploads a file with POST /api/file-stream-upload; the answer's downloadUrl is an input image URL. */
  async uploadFile(input: UploadFileInput): Promise<UploadedFile> {
    const fileName = input.fileName ?? ("path" in input ? uploadFileName(input.path) : undefined);
    // A path's file is read as the request is sent, not held in memory first.
    const file = "path" in input ? await openAsBlob(input.path) : new Blob([input.bytes as Uint8Array<ArrayBuffer>]);
    const form = new FormData();
    form.append("uploadPath", input.uploadPath);
    if (fileName !== undefined) form.append("fileName", fileName);
    form.append("file", file, fileName ?? "upload");
    return this.call<UploadedFile>("POST", "/api/file-stream-upload", form);
  }

  /** Every model the server serves, with its input schema, limits, result sizes and prices. */
  listModels(): Promise<ModelView[]> {
    return this.call<ModelView[]>("GET", "/api/v1/models");
  }

  recordInfo(taskId: string): Promise<TaskRecord> {
    return this.call<TaskRecord>("GET", `/api/v1/jobs/recordInfo?taskId=${encodeURIComponent(taskId)}`);
  }

  /** Polls until the task is terminal, calling `onChange` at every state seen for the first time. */
  async waitForTask(
    taskId: string,
    options: { intervalMs?: number; signal?: AbortSignal; onChange?: (record: TaskRecord) => void } = {},
  ): Promise<TaskRecord> {
    let last: TaskState | null = null;
    for (;;) {
      const record = await this.recordInfo(taskId);
      if (record.state !== last) {
        last = record.state;
        options.onChange?.(record);
      }
      if (TERMINAL.includes(record.state)) return record;
      await sleep(options.intervalMs ?? 500, options.signal);
    }
  }

  /**
   * Follows a task over server-sent events until it is terminal, calling `onChange` at every
   * state; falls back to polling when the stream cannot be opened or breaks off.
   */
  async followTask(
    taskId: string,
    options: { intervalMs?: number; signal?: AbortSignal; onChange?: (record: TaskRecord) => void } = {},
  ): Promise<TaskRecord> {
    let seen: TaskState | null = null;
    const onChange = (record: TaskRecord): void => {
      if (record.state === seen) return;
      seen = record.state;
      options.onChange?.(record);
    };
    try {
      const last = await this.streamStates(taskId, onChange, options.signal);
      if (last !== null && TERMINAL.includes(last.state)) return last;
    } catch (error) {
      if (error instanceof ImagegateApiError && error.status !== 0 && error.status !== 404 && error.status !== 429) throw error;
    }
    return this.waitForTask(taskId, { ...options, onChange });
  }

  private async streamStates(
    taskId: string,
    onRecord: (record: TaskRecord) => void,
    signal?: AbortSignal,
  ): Promise<TaskRecord | null> {
    let response: Response;
    try {
      response = await this.fetch(`${this.baseUrl}/api/v1/jobs/streamInfo?taskId=${encodeURIComponent(taskId)}`, {
        headers: { Authorization: `Bearer ${this.options.apiKey}`, Accept: "text/event-stream" },
        ...(signal === undefined ? {} : { signal }),
      });
    } catch {
      return null;
    }
    if (response.status !== 200 || response.body === null) {
      let message = `streamInfo answered HTTP ${response.status}`;
      try {
        message = ((await response.json()) as Envelope<null>).msg;
      } catch {
        // Not the envelope: keep the generic message.
      }
      throw new ImagegateApiError(response.status, message, response.headers.get("x-request-id"));
    }
    let last: TaskRecord | null = null;
    let buffer = "";
    const decoder = new TextDecoder();
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let boundary = buffer.indexOf("\n\n");
      while (boundary !== -1) {
        const block = buffer.slice(0, boundary);
        buffer = buffer.slice(boundary + 2);
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data: "))
          .map((line) => line.slice(6))
          .join("\n");
        if (block.startsWith("event: state") && data !== "") {
          last = JSON.parse(data) as TaskRecord;
          onRecord(last);
        }
        boundary = buffer.indexOf("\n\n");
      }
    }
    return last;
  }

  /** The result URLs of a successful task record. */
  static resultUrls(record: TaskRecord): string[] {
    if (record.resultJson === null) return [];
    const parsed = JSON.parse(record.resultJson) as { resultUrls?: unknown };
    return Array.isArray(parsed.resultUrls) ? parsed.resultUrls.filter((url): url is string => typeof url === "string") : [];
  }

  async download(url: string): Promise<{ bytes: Buffer; contentType: string }> {
    let response: Response;
    try {
      response = await this.fetch(url);
    } catch (error) {
      throw new ImagegateApiError(0, `could not reach ${url}: ${(error as Error).message}`);
    }
    if (!response.ok) {
      throw new ImagegateApiError(response.status, `downloading the image failed with HTTP ${response.status}`);
    }
    return {
      bytes: Buffer.from(await response.arrayBuffer()),
      contentType: response.headers.get("content-type") ?? "application/octet-stream",
    };
  }

  private async call<T>(method: string, path: string, body?: string | FormData, headers: Record<string, string> = {}): Promise<T> {
    let response: Response;
    try {
      response = await this.fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { Authorization: `Bearer ${this.options.apiKey}`, ...headers },
        ...(body === undefined ? {} : { body }),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new ImagegateApiError(0, `could not reach imagegate at ${this.baseUrl} (${cause})`);
    }
    const requestId = response.headers.get("x-request-id");
    const retryAfter = response.headers.get("retry-after");
    let envelope: Envelope<T>;
    try {
      envelope = (await response.json()) as Envelope<T>;
    } catch {
      throw new ImagegateApiError(response.status, `imagegate answered HTTP ${response.status} without a JSON body`, requestId);
    }
    if (response.status !== 200 || envelope.code !== 200 || envelope.data === null) {
      throw new ImagegateApiError(
        response.status,
        envelope.msg,
        requestId,
        retryAfter === null ? null : Number(retryAfter),
      );
    }
    return envelope.data;
  }
}
