import { afterAll, describe, expect, it } from "vitest";
import { S3BlobStore } from "../../src/storage/s3-blob-store.ts";
import { PresignedResultUrls } from "../../src/storage/presigned-result-urls.ts";
import { SignedResultUrls } from "../../src/storage/signed-result-urls.ts";
import { UrlSigner } from "../../src/storage/url-signer.ts";

// Presigning is computed locally: no bucket is reached here.
const NOW_MS = Date.UTC(2026, 10, 27, 12, 0, 0);
const NOW = NOW_MS / 1000;
const clock = { now: () => NOW_MS };
const KEY = "2026-11-27/task_01jdw0000000000000000000ab.png";
const TASK = "task_01jdw0000000000000000000ab";
const signer = new UrlSigner({ secret: Buffer.alloc(32, 7), publicBaseUrl: "https://gate.example" });
const signed = new SignedResultUrls(signer, clock);
const store = new S3BlobStore(
  { bucket: "results", region: "us-east-1", endpoint: "https://s3.example", forcePathStyle: true, credentials: { accessKeyId: "AKID", secretAccessKey: "secret" } },
  { clock },
);
const presigned = new PresignedResultUrls(store, clock, signed);

afterAll(() => store.close());

function resultJsonOf(...urls: string[]): string {
  return JSON.stringify({ resultUrls: urls });
}

describe("SignedResultUrls", () => {
  it("issues the /files URL the signer makes, and claims it back with its key and expiry", async () => {
    const url = await signed.issue(KEY, NOW + 3_600);
    expect(url).toBe(signer.sign(`/files/${KEY}`, NOW + 3_600));
    const claim = signed.claim(url);
    expect(claim?.taskId).toBe(TASK);
    expect(claim?.confirm("{}")).toEqual({ key: KEY, expiresAt: NOW + 3_600 });
  });

  it("claims an expired URL (the caller says it has passed its retention) but not a tampered one", async () => {
    expect(signed.claim(await signed.issue(KEY, NOW - 1))?.taskId).toBe(TASK);
    const url = await signed.issue(KEY, NOW + 3_600);
    expect(signed.claim(url.replace(`expires=${NOW + 3_600}`, `expires=${NOW + 7_200}`))).toBeNull();
    expect(signed.claim(signer.sign("/files/uploads/acct_x/a.png", NOW + 3_600))).toBeNull();
  });
});

describe("PresignedResultUrls", () => {
  it("issues the bucket's URL of the object, living until the expiry asked for", async () => {
    const url = new URL(await presigned.issue(KEY, NOW + 3_600));
    expect(`${url.origin}${url.pathname}`).toBe(`https://s3.example/results/${KEY}`);
    expect(url.searchParams.get("X-Amz-Date")).toBe("20261127T120000Z");
    expect(url.searchParams.get("X-Amz-Expires")).toBe("3600");
  });

  it("claims a stored result URL, confirmed by the task's record, with the stored key and expiry", async () => {
    const url = await presigned.issue(KEY, NOW + 604_800);
    const claim = presigned.claim(url);
    expect(claim?.taskId).toBe(TASK);
    expect(claim?.confirm(resultJsonOf(url))).toEqual({ key: KEY, expiresAt: NOW + 604_800 });
  });

  it("takes the key and expiry from the stored URL, whatever the client changed in the query", async () => {
    const stored = await presigned.issue(KEY, NOW + 3_600);
    const link = await presigned.issue(KEY, NOW + 1_200);
    const stretched = stored.replace("X-Amz-Expires=3600", "X-Amz-Expires=604800");
    for (const url of [link, stretched, `https://s3.example/results/${KEY}`]) {
      expect(presigned.claim(url)?.confirm(resultJsonOf(stored))).toEqual({ key: KEY, expiresAt: NOW + 3_600 });
    }
  });

  it("confirms no URL of another object than the task's stored ones", async () => {
    const stored = await presigned.issue(KEY, NOW + 3_600);
    const otherDay = stored.replace("2026-11-27/", "2026-11-26/");
    const otherHost = stored.replace("https://s3.example", "https://elsewhere.example");
    const withCredentials = stored.replace("https://", "https://user:pass@");
    for (const url of [otherDay, otherHost]) expect(presigned.claim(url)?.confirm(resultJsonOf(stored))).toBeNull();
    expect(presigned.claim(withCredentials)).toBeNull();
    expect(presigned.claim("https://s3.example/results/uploads/acct_x/a.png")).toBeNull();
    expect(presigned.claim("not a url")).toBeNull();
  });

  it("still claims the signed /files URLs given before, and answers presigned links for them", async () => {
    const earlier = await signed.issue(KEY, NOW + 86_400 * 14);
    expect(presigned.claim(earlier)?.confirm(resultJsonOf(earlier))).toEqual({ key: KEY, expiresAt: NOW + 86_400 * 14 });
    const tampered = earlier.replace(/signature=(.)/, (_match, first: string) => `signature=${first === "A" ? "B" : "A"}`);
    expect(presigned.claim(tampered)?.confirm(resultJsonOf(earlier)) ?? null).toBeNull();
  });
});
