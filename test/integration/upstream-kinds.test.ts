import { writeFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeOpenRouterServer } from "../fakes/fake-openrouter-server.ts";
import { FakeReplicateServer } from "../fakes/fake-replicate-server.ts";
import { FakeVertexServer } from "../fakes/fake-vertex-server.ts";
import { call, freePort, startTestServer, temporaryDirectory, waitForTerminal, type TaskData, type TestServer } from "../helpers/test-server.ts";

/**
 * Every kind of upstream behind one real server, through UPSTREAMS_FILE: nano-banana-pro on a fal
 * that is down, then a slow Replicate; nano-banana-2 on an OpenRouter that refuses one prompt,
 * then Vertex AI; google/nano-banana-edit on Vertex alone. The client sees the same records
 * whichever upstream served, and a refusal is not sent on to the next upstream.
 */

const ADMIN_KEY = "admin-key-of-the-kinds-test-0123456789";

let falPort: number;
let replicate: FakeReplicateServer;
let openRouter: FakeOpenRouterServer;
let vertex: FakeVertexServer;
let harness: TestServer;

beforeAll(async () => {
  falPort = await freePort();
  replicate = await FakeReplicateServer.start({ latencyMs: 150 });
  openRouter = await FakeOpenRouterServer.start({ apiKeys: ["sk-or-v1-kinds"] });
  vertex = await FakeVertexServer.start({ project: "imagegate-kinds", location: "global" });
  const directory = await temporaryDirectory("imagegate-kinds-");
  const serviceAccount = await vertex.createServiceAccount(directory);
  const file = path.join(directory, "upstreams.yaml");
  await writeFile(
    file,
    `breaker:
  consecutiveFailures: 2
  coolDownMs: 60000
upstreams:
  - {name: fal, kind: fal, apiKey: "\${KINDS_FAL_KEY}", baseUrl: "http://127.0.0.1:${falPort}", maxAttempts: 1}
  - {name: replicate, kind: replicate, apiToken: "\${KINDS_REPLICATE_TOKEN}", baseUrl: "${replicate.url}", pollIntervalMs: 50}
  - {name: openrouter, kind: openrouter, apiKey: "\${KINDS_OPENROUTER_KEY}", baseUrl: "${openRouter.url}"}
  - {name: vertex, kind: vertex, project: imagegate-kinds, location: global, credentialsFile: "${serviceAccount}", baseUrl: "${vertex.url}"}
routes:
  nano-banana-pro: {upstreams: [fal, replicate]}
  nano-banana-2: {upstreams: [openrouter, vertex]}
  "*": {upstreams: [vertex]}
`,
  );
  harness = await startTestServer({
    UPSTREAMS_FILE: file,
    ADMIN_API_KEY: ADMIN_KEY,
    KINDS_FAL_KEY: "fal-key",
    KINDS_REPLICATE_TOKEN: "r8_token",
    KINDS_OPENROUTER_KEY: "sk-or-v1-kinds",
  });
}, 60_000);

afterAll(async () => {
  await harness?.close();
  await Promise.all([replicate?.close(), openRouter?.close(), vertex?.close()]);
});

async function runTask(model: string, input: Record<string, unknown>): Promise<TaskData> {
  const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", { key: harness.key, body: { model, input } });
  expect(created.status).toBe(200);
  return (await waitForTerminal(harness.baseUrl, harness.key, created.body.data.taskId, 30_000)).record;
}

async function report(name: string): Promise<{ tasksServed: number; attempts: number; tasksFailed: number }> {
  const answer = await call<{ upstreams: { name: string; tasksServed: number; attempts: number; tasksFailed: number }[] }>(harness.baseUrl, "GET", "/admin/v1/upstreams", { key: ADMIN_KEY });
  const found = answer.body.data.upstreams.find((upstream) => upstream.name === name);
  if (found === undefined) throw new Error(`no upstream ${name}`);
  return found;
}

describe("every kind of upstream behind UPSTREAMS_FILE", () => {
  it("fails over from a fal that is down to Replicate, which serves the image", async () => {
    const record = await runTask("nano-banana-pro", { prompt: "a harbour in fog", aspect_ratio: "16:9" });
    expect(record).toMatchObject({ state: "success", failCode: null });
    expect(replicate.creates.map((create) => create.prompt)).toContain("a harbour in fog");
    const image = await fetch(JSON.parse(record.resultJson ?? "{}").resultUrls[0]);
    expect(image.status).toBe(200);
    expect((await sharp(Buffer.from(await image.arrayBuffer())).metadata()).width).toBeGreaterThan(0);
    expect(await report("fal")).toMatchObject({ tasksServed: 0, tasksFailed: 1 });
    expect(await report("replicate")).toMatchObject({ tasksServed: 1 });
  });

  it("serves nano-banana-2 through OpenRouter, and fails a refusal there without trying Vertex", async () => {
    const served = await runTask("nano-banana-2", { prompt: "a paper boat" });
    expect(served.state).toBe("success");
    expect(openRouter.requests.map((request) => request.prompt)).toContain("a paper boat");
    expect(await report("openrouter")).toMatchObject({ tasksServed: 1 });

    const vertexBefore = vertex.gemini.requests.length;
    openRouter.enqueue({ kind: "content-filter" });
    const refused = await runTask("nano-banana-2", { prompt: "something refused" });
    expect(refused).toMatchObject({ state: "fail", creditsConsumed: 0 });
    expect(refused.failCode).not.toBeNull();
    expect(vertex.gemini.requests.length).toBe(vertexBefore);
  });

  it("serves an edit through Vertex AI with a service account, the reference image inline", async () => {
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: "#f5c400" } }).png().toBuffer();
    const upload = await fetch(`${harness.baseUrl}/api/file-base64-upload`, {
      method: "POST",
      headers: { Authorization: `Bearer ${harness.key}`, "Content-Type": "application/json" },
      body: JSON.stringify({ base64Data: `data:image/png;base64,${png.toString("base64")}`, uploadPath: "kinds" }),
    });
    const { data } = (await upload.json()) as { data: { downloadUrl: string } };
    const record = await runTask("google/nano-banana-edit", { prompt: "make it blue", image_urls: [data.downloadUrl] });
    expect(record.state).toBe("success");
    const sent = vertex.gemini.requests.at(-1);
    expect(sent?.prompt).toContain("make it blue");
    // PUBLIC_BASE_URL is 127.0.0.1 here: the bytes go inline, never the URL.
    expect(sent?.inputImages).toHaveLength(1);
    expect(vertex.requests.at(-1)?.token).toMatch(/.+/);
    expect(await report("vertex")).toMatchObject({ tasksServed: 1 });
  });
});
