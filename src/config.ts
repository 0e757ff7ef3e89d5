import { readFileSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "./config-error.ts";
import type { PriceSetting } from "./domain/catalog/catalog.ts";
import { MODEL_SPECS, resolutionsOf } from "./domain/catalog/models/specs.ts";
import { MAX_PRESIGNED_SECONDS, readS3Config, type S3Config } from "./storage/s3-config.ts";
import { parseRatePolicy, type RatePolicy } from "./domain/limits/rate-policy.ts";
import { parseNetwork, type Network } from "./net/address-policy.ts";
import { MODEL_MAP_SETTING, type GeminiModelMap, type GeminiModelRoute } from "./providers/gemini/upstream-models.ts";
import { readUpstreamsFile, type UpstreamsConfig } from "./providers/upstreams/upstreams-file.ts";

/** sandbox: placeholders; gemini: the GEMINI_* variables; upstreams: the routes of UPSTREAMS_FILE. */
export type ProviderName = "sandbox" | "gemini" | "upstreams";

/** What a process of `imagegate serve` does: everything, only the HTTP API, or only the tasks. */
export type Role = "all" | "api" | "worker";
export const ROLES: readonly Role[] = ["all", "api", "worker"];

export interface GeminiUpstream {
  apiKeys: string[];
  baseUrl: string | undefined;
  /** The upstream model of every public model, and the variable that sets it. */
  models: GeminiModelMap;
}

export interface GeminiConfig extends GeminiUpstream {
  timeoutMs: number;
  maxAttempts: number;
  maxConcurrency: number;
  /** A second upstream tried when the first gives up on a retryable failure. */
  fallback: GeminiUpstream | null;
}

export interface Config {
  /** ROLE (or `serve --role`): `api` answers HTTP only; `worker` runs tasks, callbacks and sweeps. */
  role: Role;
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
  /** UPSTREAMS_FILE: several upstreams, each public model's route over them, circuit breakers; null without it. */
  upstreams: UpstreamsConfig | null;
  rateLimitCreateTask: RatePolicy;
  rateLimitOther: RatePolicy;
  activeTaskLimit: number;
  /** Credits per task by model id: one figure, or one per resolution. */
  prices: Record<string, PriceSetting>;
  demoCredits: number;
  /** Bearer credential of /admin/v1; null disables the admin API. */
  adminApiKey: string | null;
  /** QUEUE_RECONCILE_MS: how often a worker on a shared queue hands over active tasks the queue may have lost. */
  queueReconcileMs: number;
  /** QUEUE_LOCK_MS: how long a worker's claim on a task of the shared queue lasts unless renewed. */
  queueLockMs: number;
  /** REDIS_URL and REDIS_PREFIX: what the processes share through Redis; null keeps it in process. */
  redis: { url: string; prefix: string } | null;
  /** DATABASE_URL: all state in this PostgreSQL database; null keeps it in SQLite under DATA_DIR. */
  databaseUrl: string | null;
  /** BLOB_STORE=s3 and the S3_* settings: result files and uploads in a bucket; null keeps them in DATA_DIR. */
  s3: S3Config | null;
  /** URL_SIGNING_SECRET: the key that signs result URLs, shared by every process; null keeps one in DATA_DIR. */
  urlSigningSecret: Buffer | null;
  /** Bearer credential of /metrics; null leaves it open. */
  metricsToken: string | null;
  /** Callbacks may reach loopback, private and other non-public addresses (development, tests). */
  callbackAllowPrivate: boolean;
  /** Non-public networks callbacks may reach anyway, e.g. a receiver on 10.1.2.3. */
  callbackAllowNetworks: Network[];
  /** A callback receiver that has not answered within this is retried later. */
  callbackTimeoutMs: number;
  /** Browser origins allowed to call the API cross-origin: any ("*"), these, or none (null). */
  corsOrigins: CorsOrigins;
  /** The largest file one upload may store. */
  uploadMaxBytes: number;
  /** The bytes an account's live uploads may hold together. */
  uploadAccountMaxBytes: number;
  uploadRetentionDays: number;
  /** Input images (tasks' reference images, file-url-upload) may be fetched from loopback, private and other non-public addresses. */
  inputImageAllowPrivate: boolean;
  /** Non-public networks input images may be fetched from anyway. */
  inputImageAllowNetworks: Network[];
  /** The largest input image fetched from a URL. */
  inputImageMaxBytes: number;
  /** The budget for fetching one input image, redirects included. */
  inputImageTimeoutMs: number;
}

export type CorsOrigins = "*" | string[] | null;

/** A configuration value that cannot be used; the message names the variable. */
export { ConfigError };

const MIB = 1024 * 1024;

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

function flag(env: Environment, name: string, fallback: boolean): boolean {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const lowered = raw.toLowerCase();
  if (lowered === "true") return true;
  if (lowered === "false") return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

/** A comma-separated list of IP addresses and CIDR networks; one bad entry fails the whole setting. */
function networks(env: Environment, name: string): Network[] {
  const parsed: Network[] = [];
  for (const entry of (text(env, name) ?? "").split(",")) {
    if (entry.trim() === "") continue;
    const network = parseNetwork(entry);
    if (network === null) {
      throw new ConfigError(
        `${name} must be comma-separated IP addresses or CIDR networks such as 10.0.0.0/8, got "${entry.trim()}"`,
      );
    }
    parsed.push(network);
  }
  return parsed;
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

function rate(env: Environment, name: string, fallback: string): RatePolicy {
  const raw = text(env, name) ?? fallback;
  const policy = parseRatePolicy(raw);
  if (policy === null) throw new ConfigError(`${name} must be a count per window such as 20/10s, got "${raw}"`);
  return policy;
}

function adminKey(env: Environment): string | null {
  const raw = text(env, "ADMIN_API_KEY");
  if (raw === undefined) return null;
  if (raw.length < 24) throw new ConfigError("ADMIN_API_KEY must be at least 24 characters long");
  return raw;
}

const REDIS_PREFIX = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

/** REDIS_URL (redis:// or rediss://) and REDIS_PREFIX, the namespace of every key imagegate writes. */
function redis(env: Environment): { url: string; prefix: string } | null {
  const prefix = text(env, "REDIS_PREFIX") ?? "imagegate";
  if (!REDIS_PREFIX.test(prefix)) {
    throw new ConfigError(`REDIS_PREFIX must be 1 to 64 letters, digits and _ . : - (starting with a letter or digit), got "${prefix}"`);
  }
  const url = serviceUrl(env, "REDIS_URL", ["redis:", "rediss:"], "redis://127.0.0.1:6379", "a redis:// or rediss:// URL");
  return url === null ? null : { url, prefix };
}

/**
 * A service's URL from `name`, as given, or null when unset; refused, naming the variable, when it
 * is no URL (`example` shows one) or of another scheme than `schemes` (`kind` says which).
 */
function serviceUrl(env: Environment, name: string, schemes: readonly string[], example: string, kind: string): string | null {
  const raw = text(env, name);
  if (raw === undefined) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL such as ${example}`);
  }
  if (!schemes.includes(url.protocol)) throw new ConfigError(`${name} must be ${kind}, got one of scheme ${url.protocol}`);
  return raw;
}

/** DATABASE_URL: a postgres:// or postgresql:// URL; its password is never logged. */
function databaseUrl(env: Environment): string | null {
  return serviceUrl(env, "DATABASE_URL", ["postgres:", "postgresql:"], "postgres://user:password@host:5432/imagegate", "a postgres:// URL");
}

const MAX_PRESIGNED_DAYS = MAX_PRESIGNED_SECONDS / 86_400;

/**
 * The bucket's settings. A result URL works for as long as its file is kept (the contract says
 * so, and clients store them), and a presigned URL lives at most a week: presigned result URLs
 * with a longer retention are refused rather than cut short without a word.
 */
function s3(env: Environment, resultRetentionDays: number): S3Config | null {
  const config = readS3Config(env);
  if (config?.resultUrls === "presigned" && resultRetentionDays > MAX_PRESIGNED_DAYS) {
    const retention = text(env, "RESULT_RETENTION_DAYS") === undefined ? `${resultRetentionDays}, the default` : String(resultRetentionDays);
    throw new ConfigError(
      `S3_RESULT_URLS=presigned needs RESULT_RETENTION_DAYS of at most ${MAX_PRESIGNED_DAYS}, got ${retention}: a presigned URL lives at most ${MAX_PRESIGNED_DAYS} days, and a result URL must work for as long as its file is kept. Set RESULT_RETENTION_DAYS=${MAX_PRESIGNED_DAYS} or less, or leave S3_RESULT_URLS unset (signed) to keep files longer`,
    );
  }
  return config;
}

const MIN_SIGNING_SECRET_BYTES = 32;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * URL_SIGNING_SECRET: base64 of at least 32 random bytes (`openssl rand -base64 32`). Processes
 * that serve the same files must sign with the same key; unset, each data directory keeps its own.
 */
function urlSigningSecret(env: Environment): Buffer | null {
  const raw = text(env, "URL_SIGNING_SECRET");
  if (raw === undefined) return null;
  if (!BASE64.test(raw)) throw new ConfigError("URL_SIGNING_SECRET must be base64, e.g. the output of `openssl rand -base64 32`");
  const secret = Buffer.from(raw, "base64");
  if (secret.length < MIN_SIGNING_SECRET_BYTES) {
    throw new ConfigError(`URL_SIGNING_SECRET must hold at least ${MIN_SIGNING_SECRET_BYTES} bytes, got ${secret.length}; make one with \`openssl rand -base64 32\``);
  }
  return secret;
}

function metricsToken(env: Environment): string | null {
  const raw = text(env, "METRICS_TOKEN");
  if (raw === undefined) return null;
  if (raw.length < 16) throw new ConfigError("METRICS_TOKEN must be at least 16 characters long");
  return raw;
}

function keyList(env: Environment, prefix: string): string[] {
  return (text(env, `${prefix}_API_KEYS`) ?? text(env, `${prefix}_API_KEY`) ?? "")
    .split(",")
    .map((key) => key.trim())
    .filter((key) => key !== "");
}

function optionalUrl(env: Environment, name: string): string | undefined {
  const raw = text(env, name);
  return raw === undefined ? undefined : absoluteHttpUrl(name, raw);
}

const SEED_MODEL = "nano-banana-text-to-image";
const MODEL_MAP_EXAMPLE = "public=upstream pairs such as nano-banana-pro=gemini-3-pro-image,nano-banana-2=gemini-3.1-flash-image";

/** The upstream ids GEMINI_MODEL_MAP names, by public model id; the models it does not name are absent. */
function modelMapEntries(env: Environment): Map<string, string> {
  const named = new Map<string, string>();
  const known = MODEL_SPECS.map((model) => model.id).join(", ");
  for (const entry of (text(env, "GEMINI_MODEL_MAP") ?? "").split(",").map((part) => part.trim())) {
    if (entry === "") continue;
    const match = /^([^=\s]+)\s*=\s*([^=\s]+)$/.exec(entry);
    const [, publicId, upstream] = match ?? [];
    if (publicId === undefined || upstream === undefined) {
      throw new ConfigError(`${MODEL_MAP_SETTING} must be comma-separated ${MODEL_MAP_EXAMPLE}; got "${entry}" (the models are ${known})`);
    }
    if (!MODEL_SPECS.some((model) => model.id === publicId)) {
      throw new ConfigError(`${MODEL_MAP_SETTING} names no model "${publicId}" in "${entry}"; the models are ${known}`);
    }
    if (named.has(publicId)) {
      throw new ConfigError(`${MODEL_MAP_SETTING} names ${publicId} twice; keep one entry for it`);
    }
    named.set(publicId, upstream);
  }
  return named;
}

/**
 * The upstream model of every public model: GEMINI_MODEL_MAP's entries, the seed model's `seed`
 * (GEMINI_MODEL, named by `seedSetting`) when set, and each model's catalog default for the rest.
 */
function geminiModels(named: ReadonlyMap<string, string>, seedSetting: string, seed: string | undefined): GeminiModelMap {
  if (seed !== undefined && named.has(SEED_MODEL)) {
    throw new ConfigError(`the upstream model of ${SEED_MODEL} is set by both ${MODEL_MAP_SETTING} and ${seedSetting}; keep one`);
  }
  const models: Record<string, GeminiModelRoute> = {};
  for (const model of MODEL_SPECS) {
    const mapped = named.get(model.id);
    if (model.id === SEED_MODEL && mapped === undefined) {
      models[model.id] = { upstream: seed ?? model.geminiModel, setting: seedSetting };
    } else {
      models[model.id] = { upstream: mapped ?? model.geminiModel, setting: MODEL_MAP_SETTING };
    }
  }
  return models;
}

/** The fallback shares GEMINI_MODEL_MAP; GEMINI_FALLBACK_MODEL moves its seed model alone, as GEMINI_MODEL does the primary's. */
function readGeminiFallback(env: Environment, primary: GeminiUpstream): GeminiUpstream | null {
  const apiKeys = keyList(env, "GEMINI_FALLBACK");
  const baseUrl = optionalUrl(env, "GEMINI_FALLBACK_BASE_URL");
  const seed = text(env, "GEMINI_FALLBACK_MODEL");
  if (apiKeys.length === 0 && baseUrl === undefined && seed === undefined) return null;
  return {
    apiKeys: apiKeys.length > 0 ? apiKeys : primary.apiKeys,
    baseUrl: baseUrl ?? primary.baseUrl,
    models:
      seed === undefined
        ? primary.models
        : { ...primary.models, [SEED_MODEL]: { upstream: seed, setting: "GEMINI_FALLBACK_MODEL" } },
  };
}

function readGemini(env: Environment): GeminiConfig | null {
  const apiKeys = keyList(env, "GEMINI");
  if (apiKeys.length === 0) return null;
  const models = geminiModels(modelMapEntries(env), "GEMINI_MODEL", text(env, "GEMINI_MODEL"));
  const primary: GeminiUpstream = { apiKeys, baseUrl: optionalUrl(env, "GEMINI_BASE_URL"), models };
  return {
    ...primary,
    fallback: readGeminiFallback(env, primary),
    timeoutMs: integer(env, "GEMINI_TIMEOUT_MS", 60_000, 1_000, 600_000),
    maxAttempts: integer(env, "GEMINI_MAX_ATTEMPTS", 4, 1, 20),
    maxConcurrency: integer(env, "GEMINI_MAX_CONCURRENCY", 16, 1, 10_000),
  };
}

const CORS_ORIGIN_EXAMPLE = "origins such as https://app.example.com,http://localhost:3000 (scheme, host and optional port; no path)";

/** An http(s) origin, scheme://host[:port] and nothing more, in the form browsers send it. */
function originOf(entry: string): string | null {
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  // The parser adds "/" after a bare origin; anything else written after the host was meant.
  const bare = url.username === "" && url.password === "" && url.pathname === "/" && !/[/?#]$/.test(entry) && url.search === "";
  return bare && url.hash === "" ? url.origin : null;
}

/**
 * Unset: no cross-origin access. Entries are kept as browsers send an Origin (lower-case host,
 * default port left out), so a request's Origin is compared with them as it is.
 */
function corsOrigins(env: Environment): CorsOrigins {
  const raw = text(env, "CORS_ORIGINS");
  if (raw === undefined) return null;
  if (raw === "*") return "*";
  const origins: string[] = [];
  for (const entry of raw.split(",").map((part) => part.trim())) {
    if (entry === "") continue;
    const origin = originOf(entry);
    if (origin === null) throw new ConfigError(`CORS_ORIGINS must be * alone or ${CORS_ORIGIN_EXAMPLE}, got "${entry}"`);
    origins.push(origin);
  }
  return origins.length === 0 ? null : origins;
}

const MAX_PRICE = 1_000_000;
const SEED_PRICE_SETTING = "PRICE_NANO_BANANA_TEXT_TO_IMAGE";

function priceFigure(value: unknown, where: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_PRICE) {
    throw new ConfigError(`PRICES: ${where} must be a whole number of credits from 0 to ${MAX_PRICE}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * PRICES: JSON, or the path of a JSON file, mapping model ids to credits per task, either one figure
 * or one per resolution: {"nano-banana-pro": {"1K": 18, "4K": 24}, "google/nano-banana": 4}. Models
 * and resolutions not named keep their default prices.
 */
function prices(env: Environment): Record<string, PriceSetting> {
  const result: Record<string, PriceSetting> = {};
  if (text(env, SEED_PRICE_SETTING) !== undefined) {
    result["nano-banana-text-to-image"] = integer(env, SEED_PRICE_SETTING, 4, 0, MAX_PRICE);
  }
  const raw = text(env, "PRICES");
  if (raw === undefined) return result;
  let source = raw;
  if (!/^\s*[[{]/.test(raw)) {
    try {
      source = readFileSync(path.resolve(raw), "utf8");
    } catch (error) {
      const reason = error instanceof Error && "code" in error ? String(error.code) : String(error);
      throw new ConfigError(`PRICES must be a JSON object or the path of a file holding one; could not read "${raw}" (${reason})`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(source);
  } catch (error) {
    throw new ConfigError(`PRICES is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('PRICES must be a JSON object such as {"nano-banana-pro": {"1K": 18, "4K": 24}}');
  }
  for (const [modelId, setting] of Object.entries(parsed)) {
    const model = MODEL_SPECS.find((candidate) => candidate.id === modelId);
    if (model === undefined) {
      throw new ConfigError(`PRICES names no model "${modelId}"; the models are ${MODEL_SPECS.map((known) => known.id).join(", ")}`);
    }
    if (modelId in result) {
      throw new ConfigError(`the price of ${modelId} is set by both PRICES and ${SEED_PRICE_SETTING}; keep one`);
    }
    if (typeof setting === "number") {
      result[modelId] = priceFigure(setting, modelId);
      continue;
    }
    if (typeof setting !== "object" || setting === null || Array.isArray(setting)) {
      throw new ConfigError(`PRICES: ${modelId} must be a number of credits or an object of them per resolution`);
    }
    const perResolution: Record<string, number> = {};
    for (const [resolution, figure] of Object.entries(setting as Record<string, unknown>)) {
      if (!resolutionsOf(model).includes(resolution)) {
        throw new ConfigError(`PRICES: ${modelId} has no resolution "${resolution}"; it has ${resolutionsOf(model).join(", ")}`);
      }
      perResolution[resolution] = priceFigure(figure, `${modelId} at ${resolution}`);
    }
    result[modelId] = perResolution;
  }
  return result;
}

/** The GEMINI_* variables that configure upstreams, which UPSTREAMS_FILE does instead. */
function geminiUpstreamVariables(env: Environment): string[] {
  return Object.keys(env)
    .filter((name) => name === "GEMINI_API_KEY" || name === "GEMINI_API_KEYS" || name.startsWith("GEMINI_FALLBACK_"))
    .filter((name) => text(env, name) !== undefined)
    .sort();
}

/**
 * UPSTREAMS_FILE, unless IMAGE_PROVIDER=sandbox forces the sandbox. It replaces the GEMINI_*
 * upstream variables: both at once would leave it unclear which upstreams serve.
 */
function upstreams(env: Environment, imageProvider: string | undefined): UpstreamsConfig | null {
  const file = text(env, "UPSTREAMS_FILE");
  if (file === undefined) return null;
  const conflicting = geminiUpstreamVariables(env);
  if (conflicting.length > 0) {
    throw new ConfigError(
      `UPSTREAMS_FILE configures the upstreams, and ${conflicting.join(", ")} ${conflicting.length === 1 ? "does" : "do"} too; move the Gemini upstream into the file (kind: gemini) and unset ${conflicting.length === 1 ? "it" : "them"}`,
    );
  }
  if (imageProvider === "gemini") {
    throw new ConfigError("IMAGE_PROVIDER=gemini reads the GEMINI_* variables; with UPSTREAMS_FILE leave IMAGE_PROVIDER unset (or set it to sandbox to force placeholders)");
  }
  return imageProvider === "sandbox" ? null : readUpstreamsFile(file, env);
}

/** Reads every setting once. Nothing else in the program reads process.env. */
export function loadConfig(env: Environment): Config {
  const port = integer(env, "PORT", 8080, 0, 65_535);
  const routes = upstreams(env, text(env, "IMAGE_PROVIDER"));
  const gemini = readGemini(env);
  // UPSTREAMS_FILE is chosen by being set; IMAGE_PROVIDER still picks between the other two.
  const chosen = choice<ProviderName>(env, "IMAGE_PROVIDER", ["sandbox", "gemini"], gemini ? "gemini" : "sandbox");
  const imageProvider: ProviderName = routes !== null ? "upstreams" : chosen;
  if (imageProvider === "gemini" && gemini === null) {
    throw new ConfigError("IMAGE_PROVIDER=gemini needs GEMINI_API_KEY (or GEMINI_API_KEYS) to be set");
  }
  const publicBaseUrl = text(env, "PUBLIC_BASE_URL");
  const logLevel = text(env, "LOG_LEVEL") ?? "info";
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${logLevel}"`);
  }
  // Read ahead: presigned result URLs must live as long as the files (see s3).
  const resultRetentionDays = integer(env, "RESULT_RETENTION_DAYS", 14, 1, 3_650);
  return checkTopology({
    role: choice<Role>(env, "ROLE", ROLES, "all"),
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
    resultRetentionDays,
    shutdownGraceMs: integer(env, "SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
    logLevel,
    gemini,
    upstreams: routes,
    rateLimitCreateTask: rate(env, "RATE_LIMIT_CREATE_TASK", "20/10s"),
    rateLimitOther: rate(env, "RATE_LIMIT_OTHER", "10/1s"),
    activeTaskLimit: integer(env, "ACTIVE_TASK_LIMIT", 100, 1, 1_000_000),
    prices: prices(env),
    demoCredits: integer(env, "DEMO_CREDITS", 1_000, 0, 1_000_000_000),
    adminApiKey: adminKey(env),
    urlSigningSecret: urlSigningSecret(env),
    s3: s3(env, resultRetentionDays),
    databaseUrl: databaseUrl(env),
    redis: redis(env),
    queueReconcileMs: integer(env, "QUEUE_RECONCILE_MS", 15_000, 100, 3_600_000),
    queueLockMs: integer(env, "QUEUE_LOCK_MS", 30_000, 1_000, 3_600_000),
    metricsToken: metricsToken(env),
    callbackAllowPrivate: flag(env, "CALLBACK_ALLOW_PRIVATE", false),
    callbackAllowNetworks: networks(env, "CALLBACK_ALLOW_NETWORKS"),
    callbackTimeoutMs: integer(env, "CALLBACK_TIMEOUT_MS", 15_000, 100, 600_000),
    corsOrigins: corsOrigins(env),
    uploadMaxBytes: integer(env, "UPLOAD_MAX_BYTES", 30 * MIB, 1, 1_024 * MIB),
    uploadAccountMaxBytes: integer(env, "UPLOAD_ACCOUNT_MAX_BYTES", 1_024 * MIB, 1, Number.MAX_SAFE_INTEGER),
    uploadRetentionDays: integer(env, "UPLOAD_RETENTION_DAYS", 3, 1, 3_650),
    inputImageAllowPrivate: flag(env, "INPUT_IMAGE_ALLOW_PRIVATE", false),
    inputImageAllowNetworks: networks(env, "INPUT_IMAGE_ALLOW_NETWORKS"),
    inputImageMaxBytes: integer(env, "INPUT_IMAGE_MAX_BYTES", 10 * MIB, 1, 1_024 * MIB),
    inputImageTimeoutMs: integer(env, "INPUT_IMAGE_TIMEOUT_MS", 30_000, 100, 600_000),
  });
}

/** Processes may share the database and the queue, so any number of them may run at once. */
export function isShared(config: Pick<Config, "databaseUrl" | "redis">): boolean {
  return config.databaseUrl !== null && config.redis !== null;
}

/** Refuses the combinations of backends and role that cannot be correct, naming the variables. */
function checkTopology(config: Config): Config {
  if (config.role !== "all") {
    if (config.databaseUrl === null) {
      throw new ConfigError(
        `ROLE=${config.role} (serve --role ${config.role}) needs DATABASE_URL: the SQLite database in DATA_DIR belongs to one process, which must then have every role`,
      );
    }
    if (config.redis === null) {
      throw new ConfigError(`ROLE=${config.role} (serve --role ${config.role}) needs REDIS_URL: API and worker processes hand tasks to each other through Redis`);
    }
  }
  if (isShared(config) && config.urlSigningSecret === null) {
    throw new ConfigError(
      "with DATABASE_URL and REDIS_URL, several processes serve one API and must sign result URLs with one key: set URL_SIGNING_SECRET (make one with `openssl rand -base64 32`) to the same value in every process",
    );
  }
  return config;
}
