import { generateKeyPairSync, verify, type KeyObject } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { request as undiciRequest } from "undici";
import { errorBody, type FakeGeminiAnswer, type FakeResponse } from "./fake-gemini-answers.ts";
import { FakeGeminiServer } from "./fake-gemini-server.ts";

/** Google's token endpoint: the `aud` every service-account JWT names, wherever it is sent. */
const GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token";
const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";

const GENERATE_PATH = /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):generateContent$/;
const MODEL_PATH = /^\/(v1|v1beta1)\/publishers\/google\/models\/([^/:]+)$/;

/** The harm categories Vertex AI takes in safetySettings; another is a 400. */
const VERTEX_HARM_CATEGORIES: ReadonlySet<string> = new Set([
  "HARM_CATEGORY_HARASSMENT",
  "HARM_CATEGORY_HATE_SPEECH",
  "HARM_CATEGORY_SEXUALLY_EXPLICIT",
  "HARM_CATEGORY_DANGEROUS_CONTENT",
  "HARM_CATEGORY_CIVIC_INTEGRITY",
  "HARM_CATEGORY_IMAGE_HATE",
  "HARM_CATEGORY_IMAGE_DANGEROUS_CONTENT",
  "HARM_CATEGORY_IMAGE_HARASSMENT",
  "HARM_CATEGORY_IMAGE_SEXUALLY_EXPLICIT",
]);

/** Vertex AI's limit on one inlineData part, decoded. */
const MAX_INLINE_BYTES = 7 * 1024 * 1024;

/** What the fake can be told to answer: any answer of the Gemini fake, or Vertex's 401 to the bearer token. */
export type FakeVertexAnswer = FakeGeminiAnswer | { kind: "unauthenticated" };

export interface RecordedVertexRequest {
  method: string;
  path: string;
  project: string | null;
  location: string | null;
  model: string | null;
  /** The bearer token sent, or null. */
  token: string | null;
  /** fileData parts of the request (images sent by URL), in order. */
  fileUris: string[];
  /** The categories of safetySettings, as sent. */
  safetyCategories: string[];
}

export interface RecordedTokenRequest {
  /** The service account that signed the JWT (its `iss`), or null when unreadable. */
  clientEmail: string | null;
  /** Whether the signature verified with that account's public key. */
  signatureValid: boolean;
  scope: string | null;
  audience: string | null;
}

export interface FakeVertexOptions {
  project?: string;
  location?: string;
  /** expires_in of the tokens issued, in seconds; 3599 as Google answers. */
  tokenLifetimeSeconds?: number;
}

/**
 * A stand-in for Vertex AI's generateContent and for Google's OAuth token endpoint. Generation
 * requests are checked as Vertex does (the bearer token one this fake issued, the project and
 * location, Vertex's safety categories and inline limit) and then answered by a FakeGeminiServer
 * (the same wire format), so every answer of that fake is available here. The token endpoint
 * takes a real service-account JWT (RFC 7523), verifies its RS256 signature with the account's
 * public key, and issues an access token.
 */
export class FakeVertexServer {
  /** Answers generation requests; its `requests` hold the prompts and images as read. */
  readonly gemini: FakeGeminiServer;
  readonly requests: RecordedVertexRequest[] = [];
  readonly tokenRequests: RecordedTokenRequest[] = [];
  readonly #server: Server;
  readonly #project: string;
  readonly #location: string;
  readonly #tokenLifetimeSeconds: number;
  readonly #publicKeys = new Map<string, KeyObject>();
  readonly #issued = new Set<string>();
  readonly #queue: FakeVertexAnswer[] = [];
  #url = "";

  private constructor(gemini: FakeGeminiServer, options: FakeVertexOptions) {
    this.gemini = gemini;
    this.#project = options.project ?? "imagegate-test";
    this.#location = options.location ?? "global";
    this.#tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3599;
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        if (!response.headersSent && !response.destroyed) send(response, errorBody(500, `fake failure: ${String(error)}`));
      });
    });
  }

  static async start(options: FakeVertexOptions = {}): Promise<FakeVertexServer> {
    const fake = new FakeVertexServer(await FakeGeminiServer.start(), options);
    await new Promise<void>((resolve, reject) => {
      fake.#server.once("error", reject);
      fake.#server.listen(0, "127.0.0.1", () => resolve());
    });
    fake.#url = `http://127.0.0.1:${(fake.#server.address() as AddressInfo).port}`;
    return fake;
  }

  /** The base URL to give the SDK. */
  get url(): string {
    return this.#url;
  }

  get project(): string {
    return this.#project;
  }

  get location(): string {
    return this.#location;
  }

  /** Generation requests received (401s included). */
  get generationRequests(): RecordedVertexRequest[] {
    return this.requests.filter((request) => request.method === "POST");
  }

  /**
   * Writes a service-account key file into `dir`, with a fresh RSA key and `token_uri` pointing at
   * this fake, and returns its path. Unregistered, the account's JWTs fail verification here.
   */
  async createServiceAccount(dir: string, options: { name?: string; registered?: boolean } = {}): Promise<string> {
    const name = options.name ?? "imagegate";
    const clientEmail = `${name}@${this.#project}.iam.gserviceaccount.com`;
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    if (options.registered ?? true) this.#publicKeys.set(clientEmail, publicKey);
    const file = join(dir, `${name}-service-account.json`);
    const key = {
      type: "service_account",
      project_id: this.#project,
      private_key_id: Buffer.from(crypto.getRandomValues(new Uint8Array(20))).toString("hex"),
      private_key: privateKey.export({ type: "pkcs8", format: "pem" }),
      client_email: clientEmail,
      client_id: "100000000000000000001",
      auth_uri: "https://accounts.google.com/o/oauth2/auth",
      token_uri: `${this.#url}/token`,
      auth_provider_x509_cert_url: "https://www.googleapis.com/oauth2/v1/certs",
      universe_domain: "googleapis.com",
    };
    await writeFile(file, JSON.stringify(key, null, 2));
    return file;
  }

  /** The next generation requests answer these, in order; then images again. */
  enqueue(...answers: FakeVertexAnswer[]): void {
    this.#queue.push(...answers);
  }

  /** Every token issued so far is refused from now on (401), as after a key is deleted. */
  revokeTokens(): void {
    this.#issued.clear();
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
    await this.gemini.close();
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const rawBody = await readBody(request);
    const url = new URL(request.url ?? "/", "http://fake");
    if (request.method === "POST" && url.pathname === "/token") {
      send(response, this.#answerToken(rawBody));
      return;
    }
    const generate = GENERATE_PATH.exec(url.pathname);
    const model = request.method === "GET" ? MODEL_PATH.exec(url.pathname) : null;
    const body = parseJson(rawBody);
    const authorization = request.headers.authorization ?? "";
    const token = authorization.startsWith("Bearer ") ? authorization.slice("Bearer ".length) : null;
    this.requests.push({
      method: request.method ?? "GET",
      path: url.pathname,
      project: generate?.[2] ?? null,
      location: generate?.[3] ?? null,
      model: generate?.[4] ?? model?.[2] ?? null,
      token,
      fileUris: fileUrisOf(body),
      safetyCategories: safetyCategoriesOf(body),
    });
    if ((generate === null || request.method !== "POST") && model === null) {
      send(response, errorBody(404, `Method not found: ${request.method ?? ""} ${url.pathname}`));
      return;
    }
    const answer = generate === null ? undefined : this.#queue.shift();
    if (token === null || !this.#issued.has(token) || answer?.kind === "unauthenticated") {
      send(response, unauthenticatedBody(token === null ? "CREDENTIALS_MISSING" : "ACCESS_TOKEN_EXPIRED"));
      return;
    }
    if (model !== null) {
      await this.#forward(request, response, "GET", `/v1beta/models/${model[2] ?? ""}`, undefined);
      return;
    }
    if (generate?.[2] !== this.#project || generate[3] !== this.#location) {
      send(
        response,
        errorBody(403, `Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/${generate?.[2] ?? ""}/locations/${generate?.[3] ?? ""}/publishers/google/models/${generate?.[4] ?? ""}' (or it may not exist).`),
      );
      return;
    }
    const refusal = vertexRefusal(body);
    if (refusal !== null) {
      send(response, refusal);
      return;
    }
    if (answer !== undefined) this.gemini.enqueue(answer);
    await this.#forward(request, response, "POST", `/v1beta/models/${generate[4] ?? ""}:generateContent`, rawBody);
  }

  /** Passes a request Vertex accepted to the Gemini fake and its answer back, dropping it when the client goes away. */
  async #forward(
    request: IncomingMessage,
    response: ServerResponse,
    method: "GET" | "POST",
    path: string,
    body: string | undefined,
  ): Promise<void> {
    const controller = new AbortController();
    response.once("close", () => controller.abort());
    try {
      const answer = await undiciRequest(`${this.gemini.url}${path}`, {
        method,
        headers: { "content-type": "application/json", "x-goog-api-key": "vertex-fake-internal" },
        body,
        signal: controller.signal,
      });
      const text = await answer.body.text();
      if (response.destroyed) return;
      response.writeHead(answer.statusCode, { "content-type": "application/json; charset=UTF-8" });
      response.end(text);
    } catch {
      if (!response.destroyed) request.destroy();
    }
  }

  /** Google's token endpoint for the JWT bearer grant: the JWT must be signed by a registered service account. */
  #answerToken(rawBody: string): FakeResponse {
    const form = new URLSearchParams(rawBody);
    const refuse = (error: string, description: string): FakeResponse => ({
      status: 400,
      body: { error, error_description: description },
    });
    if (form.get("grant_type") !== JWT_BEARER_GRANT) return refuse("unsupported_grant_type", "Invalid grant_type.");
    const [header = "", payload = "", signature = ""] = (form.get("assertion") ?? "").split(".");
    const claims = parseJson(Buffer.from(payload, "base64url").toString("utf8"));
    const headerFields = parseJson(Buffer.from(header, "base64url").toString("utf8"));
    const clientEmail = stringField(claims, "iss");
    const scope = stringField(claims, "scope");
    const audience = stringField(claims, "aud");
    const publicKey = clientEmail === null ? undefined : this.#publicKeys.get(clientEmail);
    const signatureValid =
      publicKey !== undefined &&
      stringField(headerFields, "alg") === "RS256" &&
      verify("RSA-SHA256", Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature, "base64url"));
    this.tokenRequests.push({ clientEmail, signatureValid, scope, audience });
    if (!signatureValid) return refuse("invalid_grant", "Invalid JWT Signature.");
    if (audience !== GOOGLE_TOKEN_URL && audience !== `${this.#url}/token`) {
      return refuse("invalid_grant", "Invalid JWT: Failed audience check.");
    }
    const expires = numberField(claims, "exp");
    if (expires === null || expires * 1000 < Date.now()) return refuse("invalid_grant", "Invalid JWT: Token must be a short-lived token.");
    if (scope === null || !scope.split(" ").includes(CLOUD_PLATFORM_SCOPE)) {
      return refuse("invalid_scope", "Invalid OAuth scope or ID token audience provided.");
    }
    const accessToken = `ya29.fake-${this.#issued.size + 1}-${Buffer.from(crypto.getRandomValues(new Uint8Array(12))).toString("base64url")}`;
    this.#issued.add(accessToken);
    return { status: 200, body: { access_token: accessToken, expires_in: this.#tokenLifetimeSeconds, token_type: "Bearer" } };
  }
}

/** Vertex's 401 to a missing, expired or revoked bearer token. */
function unauthenticatedBody(reason: string): FakeResponse {
  return errorBody(
    401,
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
    [
      {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        reason,
        domain: "googleapis.com",
        metadata: { service: "aiplatform.googleapis.com", method: "google.cloud.aiplatform.v1beta1.PredictionService.GenerateContent" },
      },
    ],
  );
}

/** What Vertex refuses that the Gemini API would take: its own safety categories, its inline limit. */
function vertexRefusal(body: unknown): FakeResponse | null {
  for (const category of safetyCategoriesOf(body)) {
    if (!VERTEX_HARM_CATEGORIES.has(category)) {
      return errorBody(400, `Invalid value at 'safety_settings[0].category': "${category}"`);
    }
  }
  const parts = partsOf(body);
  for (const [index, part] of parts.entries()) {
    const data = stringField(field(part, "inlineData"), "data");
    if (data !== null && Math.floor((data.length * 3) / 4) > MAX_INLINE_BYTES) {
      return errorBody(400, `Inline data at contents[0].parts[${index}] exceeds the 7 MB limit.`);
    }
  }
  return null;
}

function partsOf(body: unknown): unknown[] {
  const contents = field(body, "contents");
  const parts = Array.isArray(contents) ? field(contents[0], "parts") : undefined;
  return Array.isArray(parts) ? parts : [];
}

function fileUrisOf(body: unknown): string[] {
  return partsOf(body).flatMap((part) => {
    const uri = stringField(field(part, "fileData"), "fileUri");
    return uri === null ? [] : [uri];
  });
}

function safetyCategoriesOf(body: unknown): string[] {
  const settings = field(body, "safetySettings");
  return Array.isArray(settings) ? settings.flatMap((setting) => stringField(setting, "category") ?? []) : [];
}

function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function stringField(value: unknown, key: string): string | null {
  const found = field(value, key);
  return typeof found === "string" ? found : null;
}

function numberField(value: unknown, key: string): number | null {
  const found = field(value, key);
  return typeof found === "number" ? found : null;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function send(response: ServerResponse, answer: FakeResponse): void {
  const text = JSON.stringify(answer.body);
  response.writeHead(answer.status, { "content-type": "application/json; charset=UTF-8", "content-length": Buffer.byteLength(text) });
  response.end(text);
}
