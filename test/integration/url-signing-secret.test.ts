import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, startTestServer, type TestServer } from "../helpers/test-server.ts";

const SHARED = Buffer.alloc(32, 42).toString("base64");
const OTHER = Buffer.alloc(32, 43).toString("base64");

/** Uploads one small PNG and answers its downloadUrl. */
async function uploadedUrl(harness: TestServer): Promise<string> {
  const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
  const answer = await call<{ downloadUrl: string }>(harness.baseUrl, "POST", "/api/file-base64-upload", {
    key: harness.key,
    body: { base64Data: png, uploadPath: "shared", fileName: "dot.png" },
  });
  expect(answer.status).toBe(200);
  return answer.body.data.downloadUrl;
}

/** The same path and query asked of another server. */
function onServer(url: string, harness: TestServer): string {
  const parsed = new URL(url);
  return `${harness.baseUrl}${parsed.pathname}${parsed.search}`;
}

describe("URL_SIGNING_SECRET", () => {
  const servers: TestServer[] = [];
  let first: TestServer;
  let sameSecret: TestServer;
  let otherSecret: TestServer;
  let ownKey: TestServer;

  beforeAll(async () => {
    first = await startTestServer({ URL_SIGNING_SECRET: SHARED });
    sameSecret = await startTestServer({ URL_SIGNING_SECRET: SHARED });
    otherSecret = await startTestServer({ URL_SIGNING_SECRET: OTHER });
    ownKey = await startTestServer();
    servers.push(first, sameSecret, otherSecret, ownKey);
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
  });

  it("makes a URL signed by one process valid on every process sharing it", async () => {
    const url = await uploadedUrl(first);
    expect((await fetch(url)).status).toBe(200);
    // Its signature holds on the second server, which has no such file (separate disks): 404, not 403.
    expect((await fetch(onServer(url, sameSecret))).status).toBe(404);
    expect((await fetch(onServer(url, otherSecret))).status).toBe(403);
    expect((await fetch(onServer(url, ownKey))).status).toBe(403);
  });
});
