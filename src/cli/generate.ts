import { open, writeFile, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { ImagegateApiError, ImagegateClient, uploadFileName, type TaskRecord } from "../client/client.ts";

export const DEFAULT_MODEL = "nano-banana-text-to-image";

/** The folder of the account's uploads that `generate --image` puts local files in. */
export const CLI_UPLOAD_PATH = "cli";

export interface GenerateOptions {
  prompt: string;
  model?: string;
  ratio?: string;
  format?: string;
  resolution?: string;
  /** Local paths and http(s) URLs of reference images, in the order the prompt refers to them. */
  images?: readonly string[];
  nsfwChecker: boolean;
  output?: string;
  baseUrl: string;
  key: string | undefined;
  intervalMs?: number;
}

export interface Terminal {
  out(line: string): void;
  err(line: string): void;
  /** Writes without ending the line, for progress finished later by `out`; absent: whole lines only. */
  write?(text: string): void;
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

/** A byte count as people read file sizes: 512 B, 34.5 kB, 1.2 MB. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(1)} kB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** A usage error found before anything was sent: one line, exit code 2. */
class UsageError extends Error {}

/** An --image argument: a URL the server fetches itself, or a local file to upload first. */
type ImageSource = { url: string } | { file: string; bytes: number };

function isUrl(image: string): boolean {
  return /^https?:\/\//i.test(image);
}

/** Checks every local file before anything is sent, so a typo costs no upload and no task. */
async function imageSources(images: readonly string[]): Promise<ImageSource[]> {
  return Promise.all(
    images.map(async (image): Promise<ImageSource> => {
      if (isUrl(image)) return { url: image };
      const file = path.resolve(image);
      // Opened, not only looked up: a file that cannot be read is said here too.
      let handle: FileHandle;
      try {
        handle = await open(file, "r");
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const problem = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (error as Error).message;
        throw new UsageError(`--image ${image}: ${problem} (${file})`);
      }
      try {
        const stats = await handle.stat();
        if (!stats.isFile()) throw new UsageError(`--image ${image}: not a file (${file})`);
        return { file, bytes: stats.size };
      } finally {
        await handle.close();
      }
    }),
  );
}

/**
 * Asks the server whether the model takes this many images, so that a wrong --model is said
 * before any file is uploaded.
 */
async function checkModelTakesImages(client: ImagegateClient, modelId: string, count: number): Promise<void> {
  const models = await client.listModels();
  const model = models.find((candidate) => candidate.id === modelId);
  if (model === undefined) {
    throw new UsageError(`--model ${modelId} is not served by this server; it serves ${models.map((known) => known.id).join(", ")}`);
  }
  const limit = model.limits.inputImages;
  if (limit === null) {
    const takers = models.filter((candidate) => candidate.limits.inputImages !== null).map((candidate) => candidate.id);
    throw new UsageError(`--model ${modelId} takes no input images; give --model one of ${takers.join(", ")}`);
  }
  if (count > limit.max) throw new UsageError(`--image is given ${count} times; ${modelId} takes at most ${limit.max}`);
}

/**
 * Uploads the local files in order (each file once, however often it is named), showing each
 * upload's progress, and answers the URLs of every image in the order given.
 */
async function imageUrls(client: ImagegateClient, sources: readonly ImageSource[], terminal: Terminal): Promise<string[]> {
  const uploaded = new Map<string, string>();
  const namesTaken = new Set<string>();
  const urls: string[] = [];
  for (const source of sources) {
    if ("url" in source) {
      urls.push(source.url);
      continue;
    }
    let url = uploaded.get(source.file);
    if (url === undefined) {
      const fileName = distinctName(uploadFileName(source.file), namesTaken);
      url = await uploadWithProgress(client, source.file, fileName, source.bytes, terminal);
      uploaded.set(source.file, url);
    }
    urls.push(url);
  }
  return urls;
}

/** `name`, or name-2, name-3... when another file of this run took it: each upload keeps its own file. */
function distinctName(name: string, taken: Set<string>): string {
  const extension = path.extname(name);
  const stem = name.slice(0, name.length - extension.length);
  let candidate = name;
  for (let suffix = 2; taken.has(candidate); suffix += 1) candidate = `${stem}-${suffix}${extension}`;
  taken.add(candidate);
  return candidate;
}

async function uploadWithProgress(client: ImagegateClient, file: string, fileName: string, bytes: number, terminal: Terminal): Promise<string> {
  const label = `uploading ${path.basename(file)} (${formatBytes(bytes)})...`;
  terminal.write?.(`${label} `);
  const finish = (outcome: string): void => terminal.out(terminal.write === undefined ? `${label} ${outcome}` : outcome);
  try {
    const answer = await client.uploadFile({ path: file, uploadPath: CLI_UPLOAD_PATH, fileName });
    finish("done");
    return answer.downloadUrl;
  } catch (error) {
    finish("failed");
    if (error instanceof ImagegateApiError) {
      throw new ImagegateApiError(error.status, `uploading ${file} failed: ${error.message}`, error.requestId, error.retryAfterSeconds);
    }
    throw error;
  }
}

/**
 * Uploads the local reference images, creates a task, shows its states live, downloads the
 * image. Returns the process exit code.
 */
export async function runGenerate(options: GenerateOptions, terminal: Terminal): Promise<number> {
  if (options.key === undefined || options.key === "") {
    terminal.err("imagegate: no API key: pass --key KEY or set IMAGEGATE_API_KEY (`imagegate keys create --account demo` makes one)");
    return 2;
  }
  const client = new ImagegateClient({ baseUrl: options.baseUrl, apiKey: options.key });
  const model = options.model ?? DEFAULT_MODEL;
  const images = options.images ?? [];
  const started = Date.now();
  try {
    const sources = await imageSources(images);
    if (sources.some((source) => "file" in source)) await checkModelTakesImages(client, model, sources.length);
    const urls = await imageUrls(client, sources, terminal);
    // aspect_ratio is a name every model's ratio field answers to, and image_urls every images field.
    const input: Record<string, unknown> = { prompt: options.prompt, nsfw_checker: options.nsfwChecker };
    if (options.ratio !== undefined) input.aspect_ratio = options.ratio;
    if (options.resolution !== undefined) input.resolution = options.resolution;
    if (options.format !== undefined) input.output_format = options.format;
    if (urls.length > 0) input.image_urls = urls;
    const taskId = await client.createTask({ model, input });
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
    if (error instanceof UsageError) {
      terminal.err(`imagegate: ${error.message}`);
      return 2;
    }
    if (error instanceof ImagegateApiError) {
      terminal.err(`imagegate: ${describeApiError(error)}`);
      return 1;
    }
    throw error;
  }
}
