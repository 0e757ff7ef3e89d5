import path from "node:path";

export type ProviderName = "sandbox" | "gemini";

export interface GeminiConfig {
  apiKeys: string[];
  baseUrl: string | undefined;
  model: string;
  timeoutMs: number;
  maxAttempts: number;
  maxConcurrency: number;
}

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  publicBaseUrl: string;
  imageProvider: ProviderName;
  sandboxLatencyMs: number;
  workerConcurrency: number;
  taskTimeoutMs: number;
  resultRetentionDays: number;
  shutdownGraceMs: number;
  logLevel: string;
  gemini: GeminiConfig | null;
}

/** A configuration value that cannot be used; the message names the variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

type Environment = Readonly<Record<string, string | undefined>>;

function text(env: Environment, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function integer(env: Environment, name: string, fallback: number, minimum: number, maximum: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) {
    throw new ConfigError(`${name} must be a whole number from ${minimum} to ${maximum}, got "${raw}"`);
  }
  const value = Number(raw);
  if (value < minimum || value > maximum) {
    throw new ConfigError(`${name} must be a whole number from ${minimum} to ${maximum}, got ${raw}`);
  }
  return value;
}

function choice<T extends string>(env: Environment, name: string, allowed: readonly T[], fallback: T): T {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const found = allowed.find((candidate) => candidate === raw.toLowerCase());
  if (found === undefined) throw new ConfigError(`${name} must be one of ${allowed.join(", ")}, got "${raw}"`);
  return found;
}

function absoluteHttpUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an absolute http(s) URL, got "${raw}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(`${name} must be an absolute http(s) URL, got "${raw}"`);
  }
  return raw.replace(/\/+$/, "");
}

function readGemini(env: Environment): GeminiConfig | null {
  const pool = text(env, "GEMINI_API_KEYS");
  const single = text(env, "GEMINI_API_KEY");
  const apiKeys = (pool ?? single ?? "")
    .split(",")
    .map((key) => key.trim())
    .filter((key) => key !== "");
  if (apiKeys.length === 0) return null;
  const baseUrl = text(env, "GEMINI_BASE_URL");
  return {
    apiKeys,
    baseUrl: baseUrl === undefined ? undefined : absoluteHttpUrl("GEMINI_BASE_URL", baseUrl),
    model: text(env, "GEMINI_MODEL") ?? "gemini-2.5-flash-image",
    timeoutMs: integer(env, "GEMINI_TIMEOUT_MS", 60_000, 1_000, 600_000),
    maxAttempts: integer(env, "GEMINI_MAX_ATTEMPTS", 4, 1, 20),
    maxConcurrency: integer(env, "GEMINI_MAX_CONCURRENCY", 16, 1, 10_000),
  };
}

/** Reads every setting once. Nothing else in the program reads process.env. */
export function loadConfig(env: Environment): Config {
  const port = integer(env, "PORT", 8080, 0, 65_535);
  const gemini = readGemini(env);
  const imageProvider = choice<ProviderName>(env, "IMAGE_PROVIDER", ["sandbox", "gemini"], gemini ? "gemini" : "sandbox");
  if (imageProvider === "gemini" && gemini === null) {
    throw new ConfigError("IMAGE_PROVIDER=gemini needs GEMINI_API_KEY (or GEMINI_API_KEYS) to be set");
  }
  const publicBaseUrl = text(env, "PUBLIC_BASE_URL");
  const logLevel = text(env, "LOG_LEVEL") ?? "info";
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${logLevel}"`);
  }
  return {
    port,
    host: text(env, "HOST") ?? "0.0.0.0",
    dataDir: path.resolve(text(env, "DATA_DIR") ?? "./data"),
    publicBaseUrl:
      publicBaseUrl === undefined
        ? `http://localhost:${port}`
        : absoluteHttpUrl("PUBLIC_BASE_URL", publicBaseUrl),
    imageProvider,
    sandboxLatencyMs: integer(env, "SANDBOX_LATENCY_MS", 1_500, 0, 600_000),
    workerConcurrency: integer(env, "WORKER_CONCURRENCY", 32, 1, 100_000),
    taskTimeoutMs: integer(env, "TASK_TIMEOUT_MS", 300_000, 100, 86_400_000),
    resultRetentionDays: integer(env, "RESULT_RETENTION_DAYS", 14, 1, 3_650),
    shutdownGraceMs: integer(env, "SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
    logLevel,
    gemini,
  };
}
