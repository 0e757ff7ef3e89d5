import { ConfigError } from "../config-error.ts";

/** How clients are given result files: imagegate's own signed /files URLs, or the bucket's presigned ones. */
export type ResultUrlMode = "signed" | "presigned";

/** SigV4 presigned URLs live at most a week. */
export const MAX_PRESIGNED_SECONDS = 604_800;

/** Where the bucket is and how to reach it. */
export interface S3Connection {
  bucket: string;
  region: string;
  /** Any S3-compatible store's URL; undefined: AWS's own endpoint for the region. */
  endpoint: string | undefined;
  /** Bucket in the path (http://host/bucket/key) instead of the host name; most self-hosted stores need it. */
  forcePathStyle: boolean;
  /** undefined: the AWS SDK's default chain (AWS_* variables, shared files, instance or task roles). */
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
}

export interface S3Config extends S3Connection {
  resultUrls: ResultUrlMode;
}

type Environment = Readonly<Record<string, string | undefined>>;

const BLOB_STORES = ["local", "s3"] as const;
const RESULT_URL_MODES: readonly ResultUrlMode[] = ["signed", "presigned"];
/** Most S3-compatible stores accept any region name; AWS's SDK needs one. */
const DEFAULT_REGION = "us-east-1";
const S3_VARIABLES = [
  "S3_BUCKET",
  "S3_REGION",
  "S3_ENDPOINT",
  "S3_ACCESS_KEY_ID",
  "S3_SECRET_ACCESS_KEY",
  "S3_FORCE_PATH_STYLE",
  "S3_RESULT_URLS",
] as const;

/**
 * Reads BLOB_STORE and the S3_* variables: null when files stay on local disk (BLOB_STORE unset
 * or `local`), else the bucket's settings. S3_* variables without BLOB_STORE=s3 are refused
 * rather than ignored: an operator who set them expects the bucket, and files silently kept on
 * one machine's disk would be missing on every other.
 */
export function readS3Config(env: Environment): S3Config | null {
  const store = text(env, "BLOB_STORE")?.toLowerCase() ?? "local";
  if (!(BLOB_STORES as readonly string[]).includes(store)) {
    throw new ConfigError(`BLOB_STORE must be one of ${BLOB_STORES.join(", ")}, got "${text(env, "BLOB_STORE")}"`);
  }
  if (store === "local") {
    const stray = S3_VARIABLES.filter((name) => text(env, name) !== undefined);
    if (stray.length > 0) {
      throw new ConfigError(`${stray.join(", ")} ${stray.length === 1 ? "is" : "are"} set but BLOB_STORE is not s3; set BLOB_STORE=s3 to keep files in the bucket, or unset ${stray.length === 1 ? "it" : "them"}`);
    }
    return null;
  }
  const bucket = text(env, "S3_BUCKET");
  if (bucket === undefined) throw new ConfigError("BLOB_STORE=s3 needs S3_BUCKET, the bucket that holds result files and uploads");
  return {
    bucket,
    region: text(env, "S3_REGION") ?? DEFAULT_REGION,
    endpoint: endpoint(env),
    forcePathStyle: flag(env, "S3_FORCE_PATH_STYLE", false),
    credentials: credentials(env),
    resultUrls: resultUrlMode(env),
  };
}

function text(env: Environment, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function flag(env: Environment, name: string, fallback: boolean): boolean {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (raw.toLowerCase() === "true") return true;
  if (raw.toLowerCase() === "false") return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function endpoint(env: Environment): string | undefined {
  const raw = text(env, "S3_ENDPOINT");
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`S3_ENDPOINT must be an absolute http(s) URL such as http://minio:9000, got "${raw}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(`S3_ENDPOINT must be an absolute http(s) URL such as http://minio:9000, got "${raw}"`);
  }
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw new ConfigError(`S3_ENDPOINT must not carry credentials, a query or a fragment (use S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY), got "${raw}"`);
  }
  return raw.replace(/\/+$/, "");
}

/** Both keys or neither: one alone is a half-finished setting, not a request for the default chain. */
function credentials(env: Environment): S3Connection["credentials"] {
  const accessKeyId = text(env, "S3_ACCESS_KEY_ID");
  const secretAccessKey = text(env, "S3_SECRET_ACCESS_KEY");
  if (accessKeyId === undefined && secretAccessKey === undefined) return undefined;
  if (accessKeyId === undefined || secretAccessKey === undefined) {
    const missing = accessKeyId === undefined ? "S3_ACCESS_KEY_ID" : "S3_SECRET_ACCESS_KEY";
    const given = accessKeyId === undefined ? "S3_SECRET_ACCESS_KEY" : "S3_ACCESS_KEY_ID";
    throw new ConfigError(`${given} is set without ${missing}; set both, or neither to use the AWS SDK's default credentials`);
  }
  return { accessKeyId, secretAccessKey };
}

function resultUrlMode(env: Environment): ResultUrlMode {
  const raw = text(env, "S3_RESULT_URLS");
  if (raw === undefined) return "signed";
  const mode = RESULT_URL_MODES.find((candidate) => candidate === raw.toLowerCase());
  if (mode === undefined) throw new ConfigError(`S3_RESULT_URLS must be one of ${RESULT_URL_MODES.join(", ")}, got "${raw}"`);
  return mode;
}
