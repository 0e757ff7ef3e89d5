import { imageRequest, providerFailure } from "../helpers/image-requests.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageRequest } from "../../src/providers/image-provider.ts";
import { DEFAULT_UPSTREAM_MODELS } from "../../src/providers/upstreams/default-models.ts";
import { createVertexAdapter, createVertexProvider } from "../../src/providers/vertex/create-vertex-provider.ts";
import type { VertexUpstreamOptions } from "../../src/providers/upstreams/kinds.ts";
import { FakeVertexServer, type FakeVertexAnswer } from "../fakes/fake-vertex-server.ts";
import { geminiAnswer } from "./gemini-scripted-answers.ts";
import { imageProviderContract, type ScriptedAnswer, type UpstreamFake } from "./image-provider.contract.ts";

/** Google's answers, as the Gemini API's, but for credentials: Vertex answers 401 UNAUTHENTICATED. */
function vertexAnswer(answer: ScriptedAnswer): FakeVertexAnswer {
  return answer.kind === "bad-credentials" ? { kind: "unauthenticated" } : geminiAnswer(answer);
}

function fakeOf(server: FakeVertexServer): UpstreamFake {
  return {
    url: server.url,
    script: (...answers) => server.enqueue(...answers.map(vertexAnswer)),
    get generationRequests() {
      return server.generationRequests.length;
    },
    get lastGeneration() {
      const last = server.gemini.requests.filter((request) => request.method === "POST").at(-1);
      return last === undefined ? null : { prompt: last.prompt, images: last.inputImages.length };
    },
    close: () => server.close(),
  };
}

function options(server: FakeVertexServer, credentialsFile: string | undefined, timeoutMs = 5_000): VertexUpstreamOptions {
  return {
    kind: "vertex",
    name: "vertex",
    project: server.project,
    location: server.location,
    credentialsFile,
    models: {},
    baseUrl: server.url,
    timeoutMs,
    maxAttempts: 1,
    maxConcurrency: 4,
    logger: pino({ level: "silent" }),
  };
}

const directories: string[] = [];
async function temporaryDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "imagegate-vertex-"));
  directories.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(directories.map((dir) => rm(dir, { recursive: true, force: true })));
});

imageProviderContract("Vertex AI (generateContent with a service account)", async () => {
  const server = await FakeVertexServer.start();
  const keyFile = await server.createServiceAccount(await temporaryDirectory());
  return {
    fake: fakeOf(server),
    adapter: ({ timeoutMs }) => createVertexAdapter(options(server, keyFile, timeoutMs)),
  };
});

function request(overrides: Partial<ImageRequest> = {}): ImageRequest {
  return imageRequest({ taskId: "task_vertex", prompt: "a banana on a cloud", ...overrides });
}

const failureOf = providerFailure;

describe("Vertex AI upstream", () => {
  let server: FakeVertexServer;
  let dir: string;

  beforeAll(async () => {
    server = await FakeVertexServer.start({ project: "imagegate-prod", location: "us-central1" });
    dir = await temporaryDirectory();
  });
  afterAll(async () => server.close());

  it("calls the Vertex path with a bearer token from a signed service-account JWT, fetched once and reused", async () => {
    const keyFile = await server.createServiceAccount(dir, { name: "reuse" });
    const provider = createVertexProvider(options(server, keyFile));
    const tokensBefore = server.tokenRequests.length;
    for (let index = 0; index < 3; index += 1) await provider.generate(request());
    const tokenRequests = server.tokenRequests.slice(tokensBefore);
    expect(tokenRequests).toHaveLength(1);
    expect(tokenRequests[0]).toMatchObject({
      clientEmail: "reuse@imagegate-prod.iam.gserviceaccount.com",
      signatureValid: true,
      scope: "https://www.googleapis.com/auth/cloud-platform",
    });
    const calls = server.generationRequests.slice(-3);
    expect(new Set(calls.map((call) => call.token)).size).toBe(1);
    expect(calls[0]?.path).toBe(
      `/v1beta1/projects/imagegate-prod/locations/us-central1/publishers/google/models/${DEFAULT_UPSTREAM_MODELS.vertex["nano-banana-pro"]}:generateContent`,
    );
    const sent = server.gemini.requests.at(-1);
    expect(sent?.aspectRatio).toBe("16:9");
    expect(sent?.imageSize).toBe("2K");
  });

  it("sends Vertex's own safety categories, switched off, when the client turns safety checking off", async () => {
    const keyFile = await server.createServiceAccount(dir, { name: "safety" });
    await createVertexAdapter(options(server, keyFile)).generate(request({ safetyChecking: false }));
    const categories = server.generationRequests.at(-1)?.safetyCategories ?? [];
    expect(categories).toContain("HARM_CATEGORY_IMAGE_SEXUALLY_EXPLICIT");
    expect(categories).not.toContain("HARM_CATEGORY_CIVIC_INTEGRITY");
    expect((server.gemini.requests.at(-1)?.body as { safetySettings?: { threshold: string }[] }).safetySettings?.[0]?.threshold).toBe("OFF");
  });

  it("sends a reference image over Vertex's 7 MB inline limit by its URL, and fails one without a URL before any call", async () => {
    const keyFile = await server.createServiceAccount(dir, { name: "large" });
    const adapter = createVertexAdapter(options(server, keyFile));
    const large = { bytes: Buffer.alloc(7 * 1024 * 1024 + 1), mimeType: "image/png" };
    await adapter.generate(request({ images: [{ ...large, url: "https://imagegate.example/v1/inputs/large.png" }] }));
    expect(server.generationRequests.at(-1)?.fileUris).toEqual(["https://imagegate.example/v1/inputs/large.png"]);

    const before = server.generationRequests.length;
    const error = await failureOf(adapter.generate(request({ images: [large] })));
    expect(error.code).toBe("PROVIDER_ERROR");
    expect(error.retryable).toBe(false);
    expect(server.generationRequests.length).toBe(before);
  });

  it("maps a 401 to the bearer token to the operator's error, not retried, and says so in health", async () => {
    const keyFile = await server.createServiceAccount(dir, { name: "revoked" });
    const provider = createVertexAdapter(options(server, keyFile));
    await provider.generate(request());
    server.revokeTokens();
    const error = await failureOf(provider.generate(request()));
    expect(error.operatorError).toBe(true);
    expect(error.retryable).toBe(false);
    expect(error.message).not.toMatch(/ya29|authentication/i);
    expect(provider.health()).toMatchObject({ ok: false });
    expect(provider.health().reason).toContain("Vertex AI rejected the service account");
  });

  it("maps a key the token service refuses (a bad JWT signature) to the operator's error", async () => {
    const keyFile = await server.createServiceAccount(dir, { name: "unknown", registered: false });
    const before = server.generationRequests.length;
    const error = await failureOf(createVertexAdapter(options(server, keyFile)).generate(request()));
    expect(error.operatorError).toBe(true);
    expect(error.retryable).toBe(false);
    expect(error.detail).toContain("invalid_grant");
    expect(server.tokenRequests.at(-1)?.signatureValid).toBe(false);
    expect(server.generationRequests.length).toBe(before);
  });

  it("reads Application Default Credentials from GOOGLE_APPLICATION_CREDENTIALS when no key file is configured", async () => {
    const keyFile = await server.createServiceAccount(dir, { name: "adc" });
    const previous = process.env["GOOGLE_APPLICATION_CREDENTIALS"];
    process.env["GOOGLE_APPLICATION_CREDENTIALS"] = keyFile;
    try {
      await createVertexAdapter(options(server, undefined)).generate(request());
    } finally {
      if (previous === undefined) delete process.env["GOOGLE_APPLICATION_CREDENTIALS"];
      else process.env["GOOGLE_APPLICATION_CREDENTIALS"] = previous;
    }
    expect(server.tokenRequests.at(-1)?.clientEmail).toBe("adc@imagegate-prod.iam.gserviceaccount.com");
  });

  it("refuses to start with a credentials file that cannot be read", () => {
    expect(() => createVertexAdapter(options(server, join(dir, "missing.json")))).toThrow(/cannot read the Vertex AI credentials file/);
  });
});
