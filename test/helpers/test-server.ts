import { mkdtemp, rm } from "node:fs/promises";
import { createServer as createNetServer } from "node:net";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { loadConfig } from "../../src/config.ts";
import { createServer, type Server, type ServerOverrides } from "../../src/server.ts";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

export async function temporaryDirectory(prefix = "imagegate-test-"): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export interface TestServer {
  server: Server;
  baseUrl: string;
  dataDir: string;
  /** A live key of account `alpha`. */
  key: string;
  accountId: string;
  /** Creates another account (with `credits`, default a million) and one key; returns the key. */
  newAccountKey(name: string, mode?: "live" | "test", credits?: number): Promise<string>;
  close(): Promise<void>;
}

/**
 * A real server on an ephemeral port with a temporary data directory. `env` holds configuration
 * variables as a user would set them; sandbox latency defaults to 20 ms so tests stay fast.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  overrides: ServerOverrides = {},
): Promise<TestServer> {
  const dataDir = env.DATA_DIR ?? (await temporaryDirectory());
  const port = env.PORT === undefined ? await freePort() : Number(env.PORT);
  const config = loadConfig({
    SANDBOX_LATENCY_MS: "20",
    LOG_LEVEL: "silent",
    HOST: "127.0.0.1",
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    // Generous limits unless a test is about them.
    RATE_LIMIT_CREATE_TASK: "1000000/1s",
    RATE_LIMIT_OTHER: "1000000/1s",
    SHUTDOWN_GRACE_MS: "100",
    ...env,
    PORT: String(port),
    DATA_DIR: dataDir,
  });
  const server = await createServer(config, { logger: pino({ level: "silent" }), ...overrides });
  await server.start();
  const newAccountKey = async (name: string, mode: "live" | "test" = "live", credits = 1_000_000): Promise<string> => {
    const account = await server.accounts.createAccount(name);
    if (!account.ok && account.code !== "CONFLICT") throw new Error(account.message);
    if (account.ok && credits > 0) await server.accounts.grantCredits(name, credits, "test credits", "system");
    const created = await server.accounts.createKey(name, mode);
    if (!created.ok) throw new Error(created.message);
    return created.value.key;
  };
  const key = await newAccountKey("alpha");
  const account = await server.accounts.findAccount("alpha");
  let closed = false;
  return {
    server,
    baseUrl: `http://127.0.0.1:${port}`,
    dataDir,
    key,
    accountId: account?.id ?? "",
    newAccountKey,
    async close() {
      if (closed) return;
      closed = true;
      await server.stop();
      if (env.DATA_DIR === undefined) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ApiAnswer<T = unknown> {
  status: number;
  headers: Headers;
  body: { code: number; msg: string; data: T };
}

/** One HTTP call with a JSON body (or a raw string body), answering status, headers and parsed body. */
export async function call<T = unknown>(
  baseUrl: string,
  method: string,
  path: string,
  options: { key?: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<ApiAnswer<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined && options.key !== null) headers.Authorization = `Bearer ${options.key}`;
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["Content-Type"] ??= "application/json";
  }
  const response = await fetch(`${baseUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: JSON.parse(text) as ApiAnswer<T>["body"] };
}

export interface TaskData {
  taskId: string;
  model: string;
  state: string;
  param: string;
  resultJson: string | null;
  failCode: string | null;
  failMsg: string | null;
  costTime: number | null;
  completeTime: number | null;
  createTime: number;
  updateTime: number;
  creditsConsumed: number;
}

/** Polls recordInfo until the task is terminal; returns every distinct state seen, in order. */
export async function waitForTerminal(
  baseUrl: string,
  key: string,
  taskId: string,
  timeoutMs = 15_000,
): Promise<{ record: TaskData; states: string[] }> {
  const states: string[] = [];
  const until = Date.now() + timeoutMs;
  for (;;) {
    const answer = await call<TaskData>(baseUrl, "GET", `/api/v1/jobs/recordInfo?taskId=${taskId}`, { key });
    if (answer.status !== 200) throw new Error(`recordInfo answered ${answer.status}: ${answer.body.msg}`);
    const record = answer.body.data;
    if (states.at(-1) !== record.state) states.push(record.state);
    if (record.state === "success" || record.state === "fail") return { record, states };
    if (Date.now() > until) throw new Error(`task ${taskId} still ${record.state} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const MODEL = "nano-banana-text-to-image";

/** GETs a URL and reads its body to the end, so the connection is free again; answers the status. */
export async function statusOf(url: string | URL): Promise<number> {
  const response = await fetch(url);
  await response.arrayBuffer();
  return response.status;
}
