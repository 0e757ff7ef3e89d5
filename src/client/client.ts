import type { TaskRecord, TaskState } from "../domain/tasks/task.ts";

export type { TaskRecord, TaskState };

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

  private async call<T>(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<T> {
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
