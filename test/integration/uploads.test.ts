import type { UploadAnswerData } from "../../src/api/routes/uploads.ts";
import { existsSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/test-server.ts";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const DAY_MS = 86_400_000;

function png(size: number, fill = 1): Buffer {
  return Buffer.concat([PNG_SIGNATURE, Buffer.alloc(size - PNG_SIGNATURE.length, fill)]);
}

function webp(size: number): Buffer {
  const bytes = Buffer.alloc(size, 7);
  bytes.write("RIFF", 0, "latin1");
  bytes.write("WEBP", 8, "latin1");
  return bytes;
}

type UploadData = UploadAnswerData;

interface UploadAnswer {
  status: number;
  body: { success: boolean; code: number; msg: string; data: UploadData | null };
}

async function post(harness: TestServer, route: string, body: string | FormData, key: string | null, contentType?: string): Promise<UploadAnswer> {
  const headers: Record<string, string> = {};
  if (key !== null) headers.Authorization = `Bearer ${key}`;
  if (contentType !== undefined) headers["Content-Type"] = contentType;
  const response = await fetch(`${harness.baseUrl}/api/${route}`, { method: "POST", headers, body });
  return { status: response.status, body: (await response.json()) as UploadAnswer["body"] };
}

function base64Upload(harness: TestServer, fields: Record<string, unknown>, key: string | null = harness.key): Promise<UploadAnswer> {
  return post(harness, "file-base64-upload", JSON.stringify(fields), key, "application/json");
}

function streamUpload(
  harness: TestServer,
  file: Buffer | null,
  fields: Record<string, string>,
  key: string | null = harness.key,
): Promise<UploadAnswer> {
  const form = new FormData();
  // The file first, as the hosted services' examples send it: the fields come after it.
  if (file !== null) form.append("file", new Blob([new Uint8Array(file)], { type: "application/octet-stream" }), "upload.bin");
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  return post(harness, "file-stream-upload", form, key);
}

async function download(url: string): Promise<{ status: number; type: string | null; bytes: Buffer }> {
  const response = await fetch(url);
  return { status: response.status, type: response.headers.get("content-type"), bytes: Buffer.from(await response.arrayBuffer()) };
}

function data(answer: UploadAnswer): UploadData {
  if (answer.body.data === null) throw new Error(`no data: ${answer.status} ${answer.body.msg}`);
  return answer.body.data;
}

function expectError(answer: UploadAnswer, code: number, msg: string): void {
  expect(answer).toEqual({ status: code, body: { success: false, code, msg, data: null } });
}

const LIMITS = { UPLOAD_MAX_BYTES: "4000", UPLOAD_ACCOUNT_MAX_BYTES: "10000", UPLOAD_RETENTION_DAYS: "3", RESULT_RETENTION_DAYS: "1" };

describe("file uploads", () => {
  let harness: TestServer;
  let now = Date.UTC(2026, 11, 1, 12);
  const clock = { now: () => now };

  beforeAll(async () => {
    harness = await startTestServer(LIMITS, { clock });
  });
  afterAll(async () => {
    await harness.close();
  });

  const uploadsOf = (accountId: string) => path.join(harness.dataDir, "results", "uploads", accountId);
  const storedBytes = (accountId: string) => harness.server.store.uploads.bytesOf(accountId, now);

  it("stores raw base64 and serves the same bytes at downloadUrl", async () => {
    const bytes = png(1000);
    const answer = await base64Upload(harness, { base64Data: bytes.toString("base64"), uploadPath: "images/cats", fileName: "tom.png" });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ success: true, code: 200, msg: "File uploaded successfully" });
    const uploaded = data(answer);
    expect(uploaded).toEqual({
      fileName: "tom.png",
      filePath: "images/cats/tom.png",
      downloadUrl: expect.stringMatching(
        new RegExp(`^${harness.baseUrl}/files/uploads/${harness.accountId}/images/cats/tom\\.png\\?expires=\\d+&signature=`),
      ),
      fileSize: 1000,
      mimeType: "image/png",
      uploadedAt: new Date(now).toISOString(),
    });
    expect(Number(new URL(uploaded.downloadUrl).searchParams.get("expires"))).toBe((now + 3 * DAY_MS) / 1000);
    expect(await download(uploaded.downloadUrl)).toEqual({ status: 200, type: "image/png", bytes });
  });

  it("takes a data URL and answers the type the bytes have, not the declared one", async () => {
    const bytes = png(500, 2);
    const answer = await base64Upload(harness, { base64Data: `data:image/jpeg;base64,${bytes.toString("base64")}`, uploadPath: "declared" });
    const uploaded = data(answer);
    expect(uploaded.mimeType).toBe("image/png");
    expect(uploaded.fileName).toMatch(/^[0-9a-f-]{36}\.png$/);
    expect(uploaded.filePath).toBe(`declared/${uploaded.fileName}`);
    expect(await download(uploaded.downloadUrl)).toEqual({ status: 200, type: "image/png", bytes });
  });

  it("stores a multipart file whose fields come after it, named at random with the sniffed extension", async () => {
    const bytes = webp(1200);
    const uploaded = data(await streamUpload(harness, bytes, { uploadPath: "streamed" }));
    expect(uploaded).toMatchObject({ fileSize: 1200, mimeType: "image/webp" });
    expect(uploaded.fileName).toMatch(/^[0-9a-f-]{36}\.webp$/);
    expect(await download(uploaded.downloadUrl)).toEqual({ status: 200, type: "image/webp", bytes });
  });

  describe("refuses, storing nothing", () => {
    let key: string;
    let accountId: string;
    beforeAll(async () => {
      key = await harness.newAccountKey("refused");
      accountId = (await harness.server.accounts.findAccount("refused"))?.id ?? "";
    });
    const good = png(100).toString("base64");
    const cases: [string, Record<string, unknown>, number, string][] = [
      ["no base64Data", { uploadPath: "a" }, 400, "base64Data is required"],
      ["no uploadPath", { base64Data: good }, 400, "uploadPath is required"],
      ["a leading slash", { base64Data: good, uploadPath: "/a" }, 400, "uploadPath must be 1 to 200 characters of letters, digits, - _ . / without a leading or trailing slash or .., and no part of it may be empty or start with a dot"],
      ["a trailing slash", { base64Data: good, uploadPath: "a/" }, 400, "uploadPath must be 1 to 200 characters of letters, digits, - _ . / without a leading or trailing slash or .., and no part of it may be empty or start with a dot"],
      ["..", { base64Data: good, uploadPath: "a/../b" }, 400, "uploadPath must be 1 to 200 characters of letters, digits, - _ . / without a leading or trailing slash or .., and no part of it may be empty or start with a dot"],
      ["a bad fileName", { base64Data: good, uploadPath: "a", fileName: "x/y.png" }, 400, "fileName must be 1 to 100 characters of letters, digits, - _ . that does not start with a dot or end in .meta.json"],
      ["a hidden fileName", { base64Data: good, uploadPath: "a", fileName: ".x.png" }, 400, "fileName must be 1 to 100 characters of letters, digits, - _ . that does not start with a dot or end in .meta.json"],
      ["bad base64", { base64Data: "abc$def", uploadPath: "a" }, 400, "base64Data is not valid base64"],
      ["a data URL without base64", { base64Data: "data:image/png,abc", uploadPath: "a" }, 400, "base64Data is not valid base64"],
      ["text", { base64Data: Buffer.from("hello, not an image").toString("base64"), uploadPath: "a" }, 415, "The file is not an image: only PNG, JPEG, WebP and GIF are accepted."],
      ["more than UPLOAD_MAX_BYTES", { base64Data: png(4001).toString("base64"), uploadPath: "a" }, 413, "The file must be at most 4000 bytes (UPLOAD_MAX_BYTES)."],
      ["a body past the base64 of UPLOAD_MAX_BYTES", { base64Data: png(40_000).toString("base64"), uploadPath: "a" }, 413, "The file must be at most 4000 bytes (UPLOAD_MAX_BYTES)."],
    ];
    it.each(cases)("base64 with %s", async (_name, fields, code, msg) => {
      expectError(await base64Upload(harness, fields, key), code, msg);
      expect(existsSync(uploadsOf(accountId))).toBe(false);
      expect(await storedBytes(accountId)).toBe(0);
    });

    it("multipart without file, with a bad uploadPath, not an image, too large", async () => {
      expectError(await streamUpload(harness, null, { uploadPath: "a" }, key), 400, "file is required");
      expectError(await streamUpload(harness, png(10), {}, key), 400, "uploadPath is required");
      expectError(
        await streamUpload(harness, png(10), { uploadPath: "a//b" }, key),
        400,
        "uploadPath must be 1 to 200 characters of letters, digits, - _ . / without a leading or trailing slash or .., and no part of it may be empty or start with a dot",
      );
      expectError(await streamUpload(harness, Buffer.from("GIF"), { uploadPath: "a" }, key), 415, "The file is not an image: only PNG, JPEG, WebP and GIF are accepted.");
      expectError(await streamUpload(harness, png(4001), { uploadPath: "a" }, key), 413, "The file must be at most 4000 bytes (UPLOAD_MAX_BYTES).");
      expect(existsSync(uploadsOf(accountId))).toBe(false);
      expect(await storedBytes(accountId)).toBe(0);
    });

    it("without a key or with a wrong one", async () => {
      const missing = "Authentication failed: send the header Authorization: Bearer <api key>.";
      expectError(await base64Upload(harness, { base64Data: good, uploadPath: "a" }, null), 401, missing);
      expectError(await streamUpload(harness, png(10), { uploadPath: "a" }, null), 401, missing);
      expectError(
        await base64Upload(harness, { base64Data: good, uploadPath: "a" }, "ig_live_wrong"),
        401,
        "Authentication failed: the API key is malformed, unknown or revoked.",
      );
      expect(existsSync(uploadsOf(accountId))).toBe(false);
    });
  });

  it("answers 507 past UPLOAD_ACCOUNT_MAX_BYTES, and counts an overwritten file once", async () => {
    const key = await harness.newAccountKey("quota");
    const accountId = (await harness.server.accounts.findAccount("quota"))?.id ?? "";
    for (const name of ["a.png", "b.png"]) data(await base64Upload(harness, { base64Data: png(4000).toString("base64"), uploadPath: "q", fileName: name }, key));
    // Overwriting b.png with as many bytes stays within the 10000.
    const replaced = data(await base64Upload(harness, { base64Data: png(4000, 9).toString("base64"), uploadPath: "q", fileName: "b.png" }, key));
    expect((await download(replaced.downloadUrl)).bytes).toEqual(png(4000, 9));
    expect(await storedBytes(accountId)).toBe(8000);
    expectError(
      await base64Upload(harness, { base64Data: png(2001).toString("base64"), uploadPath: "q", fileName: "c.png" }, key),
      507,
      "The account's uploads would pass 10000 bytes (UPLOAD_ACCOUNT_MAX_BYTES); wait for older uploads to expire.",
    );
    expect(existsSync(path.join(uploadsOf(accountId), "q", "c.png"))).toBe(false);
    expect(await storedBytes(accountId)).toBe(8000);
  });

  it("keeps accounts apart: the same path of another account is another file", async () => {
    const otherKey = await harness.newAccountKey("other");
    const mine = data(await base64Upload(harness, { base64Data: png(300, 3).toString("base64"), uploadPath: "shared", fileName: "same.png" }));
    const theirs = data(await base64Upload(harness, { base64Data: png(300, 4).toString("base64"), uploadPath: "shared", fileName: "same.png" }, otherKey));
    expect(theirs.filePath).toBe(mine.filePath);
    expect(theirs.downloadUrl).not.toBe(mine.downloadUrl);
    expect((await download(mine.downloadUrl)).bytes).toEqual(png(300, 3));
    expect((await download(theirs.downloadUrl)).bytes).toEqual(png(300, 4));
    // A URL is signed for one account's key: pointing it at the other's file breaks the signature.
    const forged = mine.downloadUrl.replace(harness.accountId, (await harness.server.accounts.findAccount("other"))?.id ?? "");
    expect((await download(forged)).status).toBe(403);
  });

  it("answers 409 when a path would pass through another upload's file", async () => {
    data(await base64Upload(harness, { base64Data: png(100).toString("base64"), uploadPath: "nest", fileName: "leaf" }));
    expectError(
      await base64Upload(harness, { base64Data: png(100).toString("base64"), uploadPath: "nest/leaf", fileName: "x.png" }),
      409,
      "uploadPath and fileName nest/leaf/x.png name a folder or pass through a file of another upload.",
    );
  });

  it("keeps uploads through the results' sweep and deletes them, row and file, when they expire", async () => {
    const key = await harness.newAccountKey("expiring");
    const accountId = (await harness.server.accounts.findAccount("expiring"))?.id ?? "";
    const uploaded = data(await base64Upload(harness, { base64Data: png(200).toString("base64"), uploadPath: "old", fileName: "x.png" }, key));
    const file = path.join(uploadsOf(accountId), "old", "x.png");
    // Past RESULT_RETENTION_DAYS (1), within UPLOAD_RETENTION_DAYS (3).
    now += 2 * DAY_MS;
    await harness.server.sweep();
    expect((await download(uploaded.downloadUrl)).status).toBe(200);
    expect(existsSync(file)).toBe(true);
    now += DAY_MS;
    await harness.server.sweep();
    expect(existsSync(file)).toBe(false);
    expect(await storedBytes(accountId)).toBe(0);
    expect((await harness.server.store.uploads.expired(now, 10)).filter((upload) => upload.accountId === accountId)).toEqual([]);
    // At the very second of expiry the URL is still signed as valid: the 404 comes from the file being gone.
    const gone = await fetch(uploaded.downloadUrl);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toEqual({ code: 404, msg: "No such file: it may have passed its retention period.", data: null });
    now += 1000;
    const expired = await fetch(uploaded.downloadUrl);
    expect(await expired.json()).toEqual({ code: 404, msg: "This file URL has expired.", data: null });
  });
});

describe("file-url-upload", () => {
  let harness: TestServer;
  let images: HttpServer;
  let origin: string;
  const cat = png(1500, 5);

  beforeAll(async () => {
    // A local image server: /hop/N redirects N times before the image.
    images = createServer((request, response) => {
      const url = request.url ?? "/";
      const hop = /^\/hop\/(\d+)$/.exec(url);
      if (hop !== null) {
        const left = Number(hop[1]);
        response.writeHead(302, { Location: left === 1 ? "/cat.png" : `/hop/${left - 1}` }).end();
      } else if (url === "/cat.png") {
        response.writeHead(200, { "Content-Type": "image/png" }).end(cat);
      } else if (url === "/big.png") {
        response.writeHead(200, { "Content-Type": "image/png" }).end(png(2001));
      } else if (url === "/text.png") {
        response.writeHead(200, { "Content-Type": "image/png" }).end("not an image at all");
      } else {
        response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => images.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(images.address() as AddressInfo).port}`;
    harness = await startTestServer({ ...LIMITS, INPUT_IMAGE_ALLOW_PRIVATE: "true", INPUT_IMAGE_MAX_BYTES: "2000" });
  });
  afterAll(async () => {
    await harness.close();
    await new Promise((resolve) => images.close(resolve));
  });

  const urlUpload = (fields: Record<string, unknown>, on: TestServer = harness) =>
    post(on, "file-url-upload", JSON.stringify(fields), on.key, "application/json");

  it("stores the image at the URL and serves the same bytes", async () => {
    const answer = await urlUpload({ fileUrl: `${origin}/cat.png`, uploadPath: "fetched", fileName: "cat.png" });
    expect(answer.body).toMatchObject({ success: true, code: 200, msg: "File uploaded successfully" });
    const uploaded = data(answer);
    expect(uploaded).toMatchObject({ fileName: "cat.png", filePath: "fetched/cat.png", fileSize: 1500, mimeType: "image/png" });
    expect(await download(uploaded.downloadUrl)).toEqual({ status: 200, type: "image/png", bytes: cat });
  });

  it("follows a chain of 2 redirects, and of 5", async () => {
    expect(data(await urlUpload({ fileUrl: `${origin}/hop/2`, uploadPath: "fetched" })).fileSize).toBe(1500);
    expect(data(await urlUpload({ fileUrl: `${origin}/hop/5`, uploadPath: "fetched" })).fileSize).toBe(1500);
  });

  const refusals: [string, string, string][] = [
    ["a chain of 6 redirects", "/hop/6", "fileUrl redirected more than 5 times"],
    ["a 404", "/missing.png", "fileUrl answered 404"],
    ["more than INPUT_IMAGE_MAX_BYTES", "/big.png", "fileUrl is larger than 2000 bytes"],
    ["what is not an image", "/text.png", "fileUrl is not an image"],
  ];
  it.each(refusals)("refuses %s with 400, storing nothing", async (_name, route, msg) => {
    expectError(await urlUpload({ fileUrl: `${origin}${route}`, uploadPath: "refused" }), 400, msg);
    expect(existsSync(path.join(harness.dataDir, "results", "uploads", harness.accountId, "refused"))).toBe(false);
  });

  it("names a missing or malformed fileUrl", async () => {
    expectError(await urlUpload({ uploadPath: "a" }), 400, "fileUrl is required");
    expectError(
      await urlUpload({ fileUrl: "ftp://example.com/x.png", uploadPath: "a" }),
      400,
      "fileUrl uses scheme ftp:, only http and https are allowed",
    );
  });

  it("refuses a loopback address unless INPUT_IMAGE_ALLOW_PRIVATE is set", async () => {
    const strict = await startTestServer(LIMITS);
    try {
      expectError(await urlUpload({ fileUrl: `${origin}/cat.png`, uploadPath: "a" }, strict), 400, "fileUrl host 127.0.0.1 is a loopback address");
      expect(existsSync(path.join(strict.dataDir, "results", "uploads"))).toBe(false);
    } finally {
      await strict.close();
    }
  });
});
