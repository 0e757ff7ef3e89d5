import { writeFile } from "node:fs/promises";
import path from "node:path";
import { ImagegateApiError, ImagegateClient, type TaskRecord } from "../client/client.ts";

export interface GenerateOptions {
  prompt: string;
  ratio?: string;
  format?: string;
  nsfwChecker: boolean;
  output?: string;
  baseUrl: string;
  key: string | undefined;
  intervalMs?: number;
}

export interface Terminal {
  out(line: string): void;
  err(line: string): void;
}

const HINTS: Record<number, string> = {
  0: "is the server running? Start it with `npm start` or `imagegate serve`, or pass --base-url",
  400: "the request was malformed",
  401: "check the key given with --key or IMAGEGATE_API_KEY",
  402: "the account has too few credits left",
  404: "no such task for this key",
  409: "the account has too many tasks running; wait for some to finish",
  413: "the request is too large",
  422: "fix the option named above",
  429: "too many requests; wait a moment and retry",
};

/** Explains an API error in one line. */
export function describeApiError(error: ImagegateApiError): string {
  const hint = HINTS[error.status];
  const status = error.status === 0 ? "" : ` (HTTP ${error.status})`;
  const retry = error.retryAfterSeconds === null ? "" : `; retry after ${error.retryAfterSeconds} s`;
  return `${error.message}${status}${hint === undefined ? "" : ` — ${hint}`}${retry}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** Creates a task, shows its states live, downloads the image. Returns the process exit code. */
export async function runGenerate(options: GenerateOptions, terminal: Terminal): Promise<number> {
  if (options.key === undefined || options.key === "") {
    terminal.err("imagegate: no API key: pass --key KEY or set IMAGEGATE_API_KEY (`imagegate keys create --account demo` makes one)");
    return 2;
  }
  const client = new ImagegateClient({ baseUrl: options.baseUrl, apiKey: options.key });
  const started = Date.now();
  try {
    const input: Record<string, unknown> = { prompt: options.prompt, nsfw_checker: options.nsfwChecker };
    if (options.ratio !== undefined) input.image_size = options.ratio;
    if (options.format !== undefined) input.output_format = options.format;
    const taskId = await client.createTask({ model: "nano-banana-text-to-image", input });
    terminal.out(`task ${taskId} created`);
    const record: TaskRecord = await client.followTask(taskId, {
      intervalMs: options.intervalMs ?? 300,
      onChange: (change) => terminal.out(`[${seconds(Date.now() - started)}] ${change.state}`),
    });
    if (record.state === "fail") {
      terminal.err(`imagegate: the task failed: ${record.failMsg ?? "no reason given"} (${record.failCode ?? "UNKNOWN"})`);
      return 1;
    }
    const [url] = ImagegateClient.resultUrls(record);
    if (url === undefined) {
      terminal.err("imagegate: the task succeeded but has no result URL");
      return 1;
    }
    const image = await client.download(url);
    const extension = image.contentType === "image/jpeg" ? "jpg" : "png";
    const target = path.resolve(options.output ?? `${taskId}.${extension}`);
    await writeFile(target, image.bytes);
    terminal.out(`saved ${image.bytes.length} bytes (${image.contentType}) to ${target} in ${seconds(Date.now() - started)}`);
    return 0;
  } catch (error) {
    if (error instanceof ImagegateApiError) {
      terminal.err(`imagegate: ${describeApiError(error)}`);
      return 1;
    }
    throw error;
  }
}
