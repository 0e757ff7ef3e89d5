import { readFileSync } from "node:fs";
import type { GoogleGenAIOptions } from "@google/genai";
import type { CredentialFailure } from "../gemini/gemini-image-provider.ts";

export type VertexAuthOptions = NonNullable<GoogleGenAIOptions["googleAuthOptions"]>;

/** Where google-auth-library sends every service account's token request, whatever its key file says. */
export const GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token";

/** The scope Vertex AI requires (the SDK adds it too; stated so the intent is plain). */
const CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";

/**
 * The google-auth-library options of a Vertex client: the service-account key file given, else
 * the one GOOGLE_APPLICATION_CREDENTIALS names, else the rest of Application Default Credentials
 * (gcloud's file, the metadata server). A key file is read here, at start, so a missing or
 * malformed file stops the server with its path instead of failing every task.
 *
 * Token requests are bounded by the attempt's budget (the library sets no timeout of its own, and
 * the SDK's abort signal does not reach them), and go to the key file's `token_uri`: the library
 * ignores that field and always calls Google's endpoint, which a key file for a private token
 * service (or a test's fake) would not want.
 */
export function vertexAuthOptions(
  credentialsFile: string | undefined,
  timeoutMs: number,
  env: NodeJS.ProcessEnv = process.env,
): VertexAuthOptions {
  const file = nonEmpty(credentialsFile) ?? nonEmpty(env["GOOGLE_APPLICATION_CREDENTIALS"]);
  const transporterOptions: { timeout: number; fetchImplementation?: typeof fetch } = { timeout: timeoutMs };
  if (file === undefined) {
    return { scopes: [CLOUD_PLATFORM_SCOPE], clientOptions: { transporterOptions } };
  }
  const credentials = readKeyFile(file);
  const tokenUri = credentials["token_uri"];
  if (typeof tokenUri === "string" && tokenUri !== "" && tokenUri !== GOOGLE_TOKEN_URL) {
    transporterOptions.fetchImplementation = tokenUriFetch(tokenUri);
  }
  // The path, not the parsed key: the SDK logs a line on every client given `credentials`.
  return {
    keyFile: file,
    scopes: [CLOUD_PLATFORM_SCOPE],
    clientOptions: { transporterOptions },
  };
}

function readKeyFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(`cannot read the Vertex AI credentials file ${file}: ${(error as Error).message}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`the Vertex AI credentials file ${file} is not JSON`, { cause: error });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`the Vertex AI credentials file ${file} is not a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/** A fetch that sends Google's token requests to `tokenUri` and everything else where it was going. */
function tokenUriFetch(tokenUri: string): typeof fetch {
  return (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    return fetch(url === GOOGLE_TOKEN_URL ? tokenUri : input, init);
  };
}

/**
 * Reads a failure to obtain an access token: google-auth-library's errors (GaxiosError, whose
 * `name` is plain "Error", so its class is asked; the SDK
 * itself never uses gaxios, so one of these always comes from the token request) and its
 * complaints about missing or incomplete credentials. A token service that refused the key (400
 * invalid_grant, 401, 403) is the operator's; one that failed or could not be reached is transient.
 */
export function vertexCredentialFailure(error: unknown): CredentialFailure | null {
  if (!(error instanceof Error)) return null;
  if (error.name === "GaxiosError" || error.constructor.name === "GaxiosError") {
    const status = (error as { status?: unknown }).status;
    const data = (error as { response?: { data?: unknown } }).response?.data;
    const reason = tokenErrorOf(data);
    if (typeof status === "number" && status >= 400 && status < 500 && status !== 408 && status !== 429) {
      return { refused: true, detail: `the token service refused the credentials: HTTP ${status}${reason}` };
    }
    const code = (error as { code?: unknown }).code;
    const what = typeof status === "number" ? `HTTP ${status}${reason}` : `${String(code ?? "")} ${error.message}`.trim();
    return { refused: false, detail: `no access token: ${what}` };
  }
  if (/default credentials|client_email|private_key|credential/i.test(error.message)) {
    return { refused: true, detail: `no usable credentials: ${error.message}` };
  }
  return null;
}

/** The OAuth error of a token endpoint's JSON answer, e.g. " invalid_grant (Invalid JWT Signature.)". */
function tokenErrorOf(data: unknown): string {
  if (typeof data !== "object" || data === null) return "";
  const record = data as Record<string, unknown>;
  const error = typeof record["error"] === "string" ? record["error"] : null;
  const description = typeof record["error_description"] === "string" ? record["error_description"] : null;
  if (error === null) return "";
  return description === null ? ` ${error}` : ` ${error} (${description})`;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}
