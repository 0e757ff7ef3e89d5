import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../src/domain/clock.ts";
import { isPubliclyReachable } from "../../src/net/public-base-url.ts";
import { LocalBlobStore } from "../../src/storage/local-blob-store.ts";
import { UrlSigner } from "../../src/storage/url-signer.ts";
import { InputImageLoader } from "../../src/worker/input-images.ts";

describe("whether upstreams on the internet reach PUBLIC_BASE_URL", () => {
  it.each([
    ["https://images.example.com", true],
    ["https://api.example.com:8443/base", true],
    ["http://203.0.113.9:8080", false],
    ["http://8.8.8.8:8080", true],
    ["http://localhost:8080", false],
    ["http://127.0.0.1:8080", false],
    ["http://[::1]:8080", false],
    ["http://10.1.2.3", false],
    ["http://192.168.1.20:8080", false],
    ["http://imagegate:8080", false],
    ["http://gateway.internal", false],
    ["http://box.local", false],
    ["http://printer.home.arpa", false],
    ["not a url", false],
  ])("%s: %s", (url, reachable) => {
    expect(isPubliclyReachable(url)).toBe(reachable);
  });
});

describe("input images handed to upstreams as URLs", () => {
  let directory: string;
  let origin: Server;
  let originUrl: string;
  let png: Buffer;

  beforeAll(async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), "imagegate-inputs-"));
    png = await sharp({ create: { width: 4, height: 4, channels: 3, background: "#123456" } }).png().toBuffer();
    origin = createServer((_request, response) => response.writeHead(200, { "Content-Type": "image/png" }).end(png));
    await new Promise<void>((resolve) => origin.listen(0, "127.0.0.1", resolve));
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/cat.png`;
  });
  afterAll(async () => {
    await new Promise((resolve) => origin.close(resolve));
    await rm(directory, { recursive: true, force: true });
  });

  async function loaderAndFileUrl(publicFiles: boolean): Promise<{ loader: InputImageLoader; fileUrl: string }> {
    const blobs = new LocalBlobStore({ root: path.join(directory, String(publicFiles)) });
    await blobs.put("uploads/acct/cat.png", png, "image/png");
    const signer = new UrlSigner({ secret: Buffer.alloc(32, 7), publicBaseUrl: "https://images.example.com" });
    const fileUrl = signer.sign("/files/uploads/acct/cat.png", Math.floor(Date.now() / 1000) + 600);
    const loader = new InputImageLoader(
      { blobs, signer, clock: systemClock, publicFiles },
      { policy: { allowPrivate: true, allowNetworks: [] }, maxBytes: 1_000_000, timeoutMs: 5_000 },
    );
    return { loader, fileUrl };
  }

  it("hands on the server's own signed file URL when the public base URL is public, with the bytes too", async () => {
    const { loader, fileUrl } = await loaderAndFileUrl(true);
    const [own, other] = await loader.load([fileUrl, originUrl], "image_urls", new AbortController().signal);
    expect(own).toEqual({ bytes: png, mimeType: "image/png", url: fileUrl });
    // Another server's URL never: its bytes were checked here and could change before an upstream fetched them.
    expect(other).toEqual({ bytes: png, mimeType: "image/png" });
  });

  it("sends every input inline when the public base URL is not public", async () => {
    const { loader, fileUrl } = await loaderAndFileUrl(false);
    const [own] = await loader.load([fileUrl], "image_urls", new AbortController().signal);
    expect(own).toEqual({ bytes: png, mimeType: "image/png" });
  });
});
