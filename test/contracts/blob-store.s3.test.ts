import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Readable } from "node:stream";
import { setTimeout as delay } from "node:timers/promises";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { canPresign } from "../../src/storage/blob-store.ts";
import { contentEtag } from "../../src/storage/blob-keys.ts";
import { LocalBlobStore } from "../../src/storage/local-blob-store.ts";
import { S3BlobStore } from "../../src/storage/s3-blob-store.ts";
import { S3TestServer } from "../helpers/s3-server.ts";
import { blobStoreContract } from "./blob-store.contract.ts";

let server: S3TestServer;

beforeAll(async () => {
  server = await S3TestServer.start();
});

afterAll(async () => {
  await server.stop();
});

/**
 * The bucket records write times in whole seconds by the clock it shares with this process
 * (s3rver runs in it): past the next whole second, every later write is strictly later. The
 * margin covers file systems' coarser clocks.
 */
async function untilTheNextSecond(): Promise<void> {
  await delay(1_000 - (Date.now() % 1_000) + 100);
}

blobStoreContract("S3BlobStore", async () => {
  const bucket = await server.createBucket();
  const store = new S3BlobStore(server.connection(bucket));
  return {
    store,
    passTime: untilTheNextSecond,
    async cleanup() {
      await store.close();
      await server.deleteBucket(bucket);
    },
  };
});

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

describe("S3BlobStore", () => {
  let bucket: string;
  let store: S3BlobStore;

  beforeEach(async () => {
    bucket = await server.createBucket();
    store = new S3BlobStore(server.connection(bucket));
  });

  afterEach(async () => {
    await store.close();
    await server.deleteBucket(bucket);
  });

  it("gives a blob the etag the local store gives the same bytes, so blobs keep it when moved", async () => {
    const bytes = Buffer.from("the same image in either store");
    const stored = await store.put("2000-01-01/a.png", bytes, "image/png");
    expect(stored.etag).toBe(await contentEtag(bytes));
  });

  it("answers S3's own etag for an object written by other tools, and the bucket's write time", async () => {
    const before = Math.floor(Date.now() / 1_000) * 1_000;
    await server.client.send(new PutObjectCommand({ Bucket: bucket, Key: "2000-01-01/copied.png", Body: Buffer.from("copied in"), ContentType: "image/png" }));
    const opened = await store.open("2000-01-01/copied.png");
    expect(opened?.blob.etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(opened?.blob.size).toBe(9);
    expect(opened?.blob.createdAt).toBeGreaterThanOrEqual(before);
    expect((await readAll(opened?.read() ?? missing())).toString()).toBe("copied in");
  });

  it("fails the stream, not the process, when the blob is deleted between open and read", async () => {
    await store.put("2000-01-01/a.png", Buffer.from("soon gone"), "image/png");
    const opened = await store.open("2000-01-01/a.png");
    await store.delete("2000-01-01/a.png");
    await expect(readAll(opened?.read() ?? missing())).rejects.toThrow(/NoSuchKey|does not exist/);
  });

  it("cuts an answer that ignores Range down to the range asked for", async () => {
    // Between the store and the bucket, a proxy that drops Range, as some stores and proxies do.
    const proxy = http.createServer((request, response) => {
      const { range: _dropped, ...headers } = request.headers;
      const forwarded = http.request(new URL(request.url ?? "/", server.endpoint), { method: request.method, headers }, (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      });
      request.pipe(forwarded);
    });
    proxy.listen(0, "127.0.0.1");
    await once(proxy, "listening");
    const { port } = proxy.address() as AddressInfo;
    const throughProxy = new S3BlobStore({ ...server.connection(bucket), endpoint: `http://127.0.0.1:${port}` });
    try {
      const bytes = Buffer.from(Array.from({ length: 1_000 }, (_, index) => index % 251));
      await throughProxy.put("2000-01-01/ranged.png", bytes, "image/png");
      for (const [start, end] of [[10, 19], [0, 0], [999, 999], [0, 999]] as const) {
        const opened = await throughProxy.open("2000-01-01/ranged.png");
        expect(await readAll(opened?.read({ start, end }) ?? missing())).toEqual(bytes.subarray(start, end + 1));
      }
    } finally {
      await throughProxy.close();
      proxy.closeAllConnections();
      proxy.close();
    }
  });

  it("sweeps past a thousand objects: every listing page, in batches of at most a thousand deletes", async () => {
    const keys = Array.from({ length: 1_050 }, (_, index) => `2000-01-01/task_${String(index).padStart(4, "0")}.png`);
    for (let start = 0; start < keys.length; start += 50) {
      await Promise.all(keys.slice(start, start + 50).map((key) => store.put(key, Buffer.from(key), "image/png")));
    }
    await untilTheNextSecond();
    const cutoff = await store.put("2000-01-02/cutoff.png", Buffer.from("cutoff"), "image/png");
    expect(await store.deleteOlderThan(cutoff.createdAt)).toBe(1_050);
    expect(await store.open("2000-01-01/task_1049.png")).toBeNull();
    expect(await store.open("2000-01-01/task_0000.png")).toBeNull();
    expect(await store.deleteOlderThan(cutoff.createdAt + 1_000)).toBe(1);
  });

  it("passes on errors other than a missing key, on every operation", async () => {
    const wrongKeys = new S3BlobStore({ ...server.connection(bucket), credentials: { accessKeyId: "NOBODY", secretAccessKey: "NOTHING" } });
    try {
      await expect(wrongKeys.put("2000-01-01/a.png", Buffer.from("x"), "image/png")).rejects.toThrow(/Access Key Id/);
      await expect(wrongKeys.open("2000-01-01/a.png")).rejects.toThrow();
      await expect(wrongKeys.delete("2000-01-01/a.png")).rejects.toThrow(/Access Key Id/);
      await expect(wrongKeys.deleteOlderThan(Date.now())).rejects.toThrow(/Access Key Id/);
    } finally {
      await wrongKeys.close();
    }
    const noBucket = new S3BlobStore(server.connection(`${bucket}-missing`));
    try {
      await expect(noBucket.put("2000-01-01/a.png", Buffer.from("x"), "image/png")).rejects.toThrow(/bucket does not exist/);
      await expect(noBucket.deleteOlderThan(Date.now())).rejects.toThrow(/bucket does not exist/);
    } finally {
      await noBucket.close();
    }
  });

  describe("presigned URLs", () => {
    it("is a store that presigns, unlike the local one", () => {
      expect(canPresign(store)).toBe(true);
      expect(canPresign(new LocalBlobStore({ root: "/nonexistent" }))).toBe(false);
    });

    it("fetches the blob's bytes with a plain GET, no credentials", async () => {
      const bytes = Buffer.from("bytes fetched straight from the bucket");
      await store.put("2000-01-01/task_a.png", bytes, "image/png");
      const url = await store.presignedUrl("2000-01-01/task_a.png", 3_600);
      expect(new URL(url).searchParams.get("X-Amz-Expires")).toBe("3600");
      const answer = await fetch(url);
      expect(answer.status).toBe(200);
      expect(answer.headers.get("content-type")).toBe("image/png");
      expect(Buffer.from(await answer.arrayBuffer())).toEqual(bytes);
    });

    it("expires: a URL signed longer ago than it lives is refused", async () => {
      await store.put("2000-01-01/task_a.png", Buffer.from("x"), "image/png");
      // Signed by a clock two hours behind, for one hour: it expired an hour ago.
      const signedEarlier = new S3BlobStore(server.connection(bucket), { clock: { now: () => Date.now() - 7_200_000 } });
      try {
        const expired = await signedEarlier.presignedUrl("2000-01-01/task_a.png", 3_600);
        const answer = await fetch(expired);
        expect(answer.status).toBe(403);
        expect(await answer.text()).toMatch(/expired/);
        // The same clock with a URL that lives three hours: still good.
        expect((await fetch(await signedEarlier.presignedUrl("2000-01-01/task_a.png", 10_800))).status).toBe(200);
      } finally {
        await signedEarlier.close();
      }
    });

    it("lives from one second to a week, as SigV4 allows", async () => {
      await expect(store.presignedUrl("2000-01-01/a.png", 0)).rejects.toThrow(/1 to 604800 seconds/);
      await expect(store.presignedUrl("2000-01-01/a.png", 604_801)).rejects.toThrow(/1 to 604800 seconds/);
      await expect(store.presignedUrl("2000-01-01/a.png", 1.5)).rejects.toThrow(/1 to 604800 seconds/);
      await expect(store.presignedUrl("../a.png", 60)).rejects.toThrow(/Invalid blob key/);
      expect(await store.presignedUrl("2000-01-01/a.png", 604_800)).toContain("X-Amz-Expires=604800");
    });

  });
});

function missing(): Readable {
  throw new Error("expected the blob to exist");
}
