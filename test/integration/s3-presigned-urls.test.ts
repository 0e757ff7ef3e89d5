import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3TestServer } from "../helpers/s3-server.ts";
import { call, MODEL, startTestServer, statusOf, temporaryDirectory, waitForTerminal, type TestServer } from "../helpers/test-server.ts";

const WEEK_SECONDS = 604_800;

let offsetMs = 0;
/** The server's clock; set behind to make URLs that have already expired by the bucket's clock. */
const clock = { now: () => Date.now() + offsetMs };

let s3: S3TestServer;
let bucket: string;

beforeAll(async () => {
  s3 = await S3TestServer.start();
  bucket = await s3.createBucket();
});
afterAll(async () => {
  await s3.deleteBucket(bucket);
  await s3.stop();
});

function bucketSettings(resultUrls: "signed" | "presigned"): Record<string, string> {
  return {
    ...s3.settings(bucket),
    S3_RESULT_URLS: resultUrls,
    RESULT_RETENTION_DAYS: "7",
  };
}

async function resultUrlOf(harness: TestServer, input: Record<string, unknown>, model = MODEL): Promise<string> {
  const created = await call<{ taskId: string }>(harness.baseUrl, "POST", "/api/v1/jobs/createTask", { key: harness.key, body: { model, input } });
  expect(created.status).toBe(200);
  const { record } = await waitForTerminal(harness.baseUrl, harness.key, created.body.data.taskId);
  expect([record.state, record.failMsg]).toEqual(["success", null]);
  return (JSON.parse(record.resultJson ?? "{}") as { resultUrls: string[] }).resultUrls[0] ?? "";
}

function downloadUrl(harness: TestServer, url: string) {
  return call<string | null>(harness.baseUrl, "POST", "/api/v1/common/download-url", { key: harness.key, body: { url } });
}

/** Where a URL points, its query left out. */
function objectOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

describe("S3_RESULT_URLS=presigned", () => {
  let harness: TestServer;

  beforeAll(async () => {
    offsetMs = 0;
    harness = await startTestServer({ ...bucketSettings("presigned"), INPUT_IMAGE_ALLOW_PRIVATE: "true" }, { clock });
  });
  afterAll(async () => {
    offsetMs = 0;
    await harness.close();
  });

  it("gives a task the bucket's URL of its image, which downloads it without any key", async () => {
    const url = await resultUrlOf(harness, { prompt: "straight from the bucket", image_size: "16:9" });
    expect(objectOf(url)).toMatch(new RegExp(`^${s3.endpoint}/${bucket}/\\d{4}-\\d{2}-\\d{2}/task_[0-9a-z]{26}\\.png$`));
    // As long as the file is kept: from just before the image was stored.
    const lifetime = Number(new URL(url).searchParams.get("X-Amz-Expires"));
    expect(lifetime).toBeGreaterThan(WEEK_SECONDS - 60);
    expect(lifetime).toBeLessThanOrEqual(WEEK_SECONDS);
    // No Authorization header, no API key: the URL's own signature is all it takes.
    const answer = await fetch(url);
    expect([answer.status, answer.headers.get("content-type")]).toEqual([200, "image/png"]);
    const metadata = await sharp(Buffer.from(await answer.arrayBuffer())).metadata();
    expect([metadata.format, metadata.width, metadata.height]).toEqual(["png", 1376, 768]);
  });

  it("gives a result URL that expires with the file's retention", async () => {
    // Signed a week and five seconds ago by the server's clock: past its life by the bucket's.
    offsetMs = -(WEEK_SECONDS + 5) * 1000;
    const url = await resultUrlOf(harness, { prompt: "kept a week" });
    offsetMs = 0;
    const answer = await fetch(url);
    expect(answer.status).toBe(403);
    expect(await answer.text()).toMatch(/Request has expired/);
    expect((await downloadUrl(harness, url)).body).toEqual({
      code: 422,
      msg: "url has passed its retention period; the file is no longer kept.",
      data: null,
    });
  });

  it("answers download-url with a presigned URL of the same object, valid for 20 minutes", async () => {
    const url = await resultUrlOf(harness, { prompt: "link me to the bucket" });
    const answer = await downloadUrl(harness, url);
    expect(answer.status).toBe(200);
    const link = answer.body.data ?? "";
    expect(objectOf(link)).toBe(objectOf(url));
    expect(new URL(link).searchParams.get("X-Amz-Expires")).toBe("1200");
    const original = Buffer.from(await (await fetch(url)).arrayBuffer());
    expect(Buffer.from(await (await fetch(link)).arrayBuffer()).equals(original)).toBe(true);
    // A link made twenty minutes and five seconds ago has expired.
    offsetMs = -(20 * 60 + 5) * 1000;
    const earlier = (await downloadUrl(harness, url)).body.data ?? "";
    offsetMs = 0;
    expect(await statusOf(earlier)).toBe(403);
  });

  it("answers download-url 422 for another object, another account's task or no URL of a result", async () => {
    const url = await resultUrlOf(harness, { prompt: "mine only" });
    const message = { code: 422, msg: "url must be a resultUrl of one of your tasks.", data: null };
    const otherDay = url.replace(/\/\d{4}-\d{2}-\d{2}\//, "/2000-01-01/");
    for (const other of [otherDay, url.replace("127.0.0.1", "localhost"), `${s3.endpoint}/${bucket}/uploads/x.png`, "not a url"]) {
      expect((await downloadUrl(harness, other)).body).toEqual(message);
    }
    const outsider = await harness.newAccountKey("outsider");
    const answer = await call(harness.baseUrl, "POST", "/api/v1/common/download-url", { key: outsider, body: { url } });
    expect(answer.body).toEqual(message);
  });

  it("takes a presigned result URL as another task's reference image, fetched as any URL is", async () => {
    const url = await resultUrlOf(harness, { prompt: "a first image" });
    const edited = await resultUrlOf(harness, { prompt: "edit it", image_urls: [url], image_size: "auto" }, "google/nano-banana-edit");
    expect((await fetch(edited)).status).toBe(200);
  });
});

describe("switching S3_RESULT_URLS from signed to presigned", () => {
  it("keeps the /files URLs given before working, and download-url answers presigned links for them", async () => {
    const dataDir = await temporaryDirectory();
    offsetMs = 0;
    const before = await startTestServer({ ...bucketSettings("signed"), DATA_DIR: dataDir }, { clock });
    let url: string;
    try {
      url = await resultUrlOf(before, { prompt: "made before the switch" });
    } finally {
      await before.close();
    }
    // The same data directory (its signing key, its tasks) and the same port, so the URL is this server's.
    const after = await startTestServer({ ...bucketSettings("presigned"), DATA_DIR: dataDir, PORT: new URL(url).port }, { clock });
    try {
      expect(url.startsWith(`${after.baseUrl}/files/`)).toBe(true);
      expect(await statusOf(url)).toBe(200);
      const answer = await call<string>(after.baseUrl, "POST", "/api/v1/common/download-url", { key: before.key, body: { url } });
      expect(answer.status).toBe(200);
      expect(objectOf(answer.body.data)).toBe(`${s3.endpoint}/${bucket}${new URL(url).pathname.replace(/^\/files/, "")}`);
      expect(await statusOf(answer.body.data)).toBe(200);
    } finally {
      await after.close();
    }
  });
});
