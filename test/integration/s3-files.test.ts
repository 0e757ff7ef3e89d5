import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3TestServer } from "../helpers/s3-server.ts";
import { call, MODEL, startTestServer, statusOf, waitForTerminal, type TestServer } from "../helpers/test-server.ts";

/** The server with BLOB_STORE=s3: results and uploads in a bucket of a real S3-speaking server. */
describe("BLOB_STORE=s3", () => {
  let s3: S3TestServer;
  let bucket: string;
  let harness: TestServer;

  beforeAll(async () => {
    s3 = await S3TestServer.start();
    bucket = await s3.createBucket();
    harness = await startTestServer(s3.settings(bucket));
  });
  afterAll(async () => {
    await harness.close();
    await s3.deleteBucket(bucket);
    await s3.stop();
  });

  it("keeps a task's result in the bucket and serves it at its signed URL", async () => {
    const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
      key: harness.key,
      body: { model: MODEL, input: { prompt: "a bucket of bananas", image_size: "16:9" } },
    });
    const { record } = await waitForTerminal(harness.baseUrl, harness.key, created.body.data.taskId);
    expect(record.state).toBe("success");
    const url = (JSON.parse(record.resultJson ?? "{}") as { resultUrls: string[] }).resultUrls[0] ?? "";
    // S3_RESULT_URLS unset: imagegate's own URL, whatever the store.
    expect(url.startsWith(`${harness.baseUrl}/files/`)).toBe(true);
    const answer = await fetch(url);
    expect([answer.status, answer.headers.get("content-type")]).toEqual([200, "image/png"]);
    const metadata = await sharp(Buffer.from(await answer.arrayBuffer())).metadata();
    expect([metadata.width, metadata.height]).toEqual([1376, 768]);
    const key = new URL(url).pathname.replace(/^\/files\//, "");
    const listed = await s3.client.send(new (await import("@aws-sdk/client-s3")).HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect(listed.ContentType).toBe("image/png");
  });

  it("answers download-url with a signed /files URL of its own", async () => {
    const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
      key: harness.key,
      body: { model: MODEL, input: { prompt: "a short link" } },
    });
    const { record } = await waitForTerminal(harness.baseUrl, harness.key, created.body.data.taskId);
    const url = (JSON.parse(record.resultJson ?? "{}") as { resultUrls: string[] }).resultUrls[0] ?? "";
    const answer = await call<string>(harness.baseUrl, "POST", "/api/v1/common/download-url", { key: harness.key, body: { url } });
    expect(answer.status).toBe(200);
    const link = new URL(answer.body.data);
    expect(`${link.origin}${link.pathname}`).toBe(`${harness.baseUrl}${new URL(url).pathname}`);
    expect(link.searchParams.get("signature")).not.toBeNull();
    expect(await statusOf(link)).toBe(200);
  });

  it("keeps uploads in the bucket, usable as a task's reference image", async () => {
    const png = await sharp({ create: { width: 300, height: 200, channels: 3, background: "#3070c0" } }).png().toBuffer();
    const uploaded = await call<{ downloadUrl: string; filePath: string }>(harness.baseUrl, "POST", "/api/file-base64-upload", {
      key: harness.key,
      body: { base64Data: png.toString("base64"), uploadPath: "refs", fileName: "blue.png" },
    });
    expect(uploaded.status).toBe(200);
    expect(Buffer.from(await (await fetch(uploaded.body.data.downloadUrl)).arrayBuffer()).equals(png)).toBe(true);
    const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", {
      key: harness.key,
      body: { model: "google/nano-banana-edit", input: { prompt: "make it green", image_urls: [uploaded.body.data.downloadUrl], image_size: "auto" } },
    });
    const { record } = await waitForTerminal(harness.baseUrl, harness.key, created.body.data.taskId);
    expect([record.state, record.failMsg]).toEqual(["success", null]);
  });

  it("names the bucket among /readyz's checks", async () => {
    const ready = await call<{ checks: { name: string; ok: boolean }[] }>(harness.baseUrl, "GET", "/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body.data.checks).toContainEqual({ name: "files", ok: true });
  });
});

describe("BLOB_STORE=s3 with a bucket that cannot be reached", () => {
  it("starts, and answers /readyz 503 naming the file store", async () => {
    const harness = await startTestServer({
      BLOB_STORE: "s3",
      S3_BUCKET: "no-such-bucket",
      S3_ENDPOINT: "http://127.0.0.1:9",
      S3_FORCE_PATH_STYLE: "true",
      S3_ACCESS_KEY_ID: "x",
      S3_SECRET_ACCESS_KEY: "y",
    });
    try {
      const ready = await call<{ checks: { name: string; ok: boolean; reason?: string }[] }>(harness.baseUrl, "GET", "/readyz");
      expect(ready.status).toBe(503);
      const files = ready.body.data.checks.find((check) => check.name === "files");
      expect(files?.ok).toBe(false);
      expect(files?.reason).toEqual(expect.any(String));
    } finally {
      await harness.close();
    }
  });
});
