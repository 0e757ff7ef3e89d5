import { readFileSync } from "node:fs";
import path from "node:path";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import Fastify from "fastify";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONSOLE_DIRECTORY, registerConsole } from "../../src/api/console.ts";
import { startTestServer, type TestServer } from "../helpers/test-server.ts";

/** A GET that leaves the body as sent (fetch would decompress it) and sends only the headers given. */
async function get(url: string, headers: Record<string, string> = {}) {
  const answer = await request(url, { headers });
  return { status: answer.statusCode, headers: answer.headers, body: Buffer.from(await answer.body.arrayBuffer()) };
}

describe("the web console's files", () => {
  let harness: TestServer;
  const indexHtml = readFileSync(path.join(CONSOLE_DIRECTORY, "index.html"));
  const script = /src="(\/assets\/[^"]+\.js)"/.exec(indexHtml.toString())?.[1] ?? "";

  beforeAll(async () => {
    harness = await startTestServer();
  });
  afterAll(async () => harness?.close());

  it("serves the page at / Brotli-compressed when the browser accepts it, never cached without asking again", async () => {
    const answer = await get(`${harness.baseUrl}/`, { "accept-encoding": "gzip, deflate, br, zstd" });
    expect(answer.status).toBe(200);
    expect(answer.headers["content-encoding"]).toBe("br");
    expect(answer.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(answer.headers["cache-control"]).toBe("no-cache");
    expect(answer.headers.vary).toBe("Accept-Encoding");
    expect(brotliDecompressSync(answer.body).equals(indexHtml)).toBe(true);
  });

  it("keeps the page to its own origin: a content security policy, no framing, no referrer", async () => {
    const { headers } = await get(`${harness.baseUrl}/`);
    const policy = String(headers["content-security-policy"]);
    expect(policy).toContain("default-src 'self'");
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(headers["x-frame-options"]).toBe("DENY");
    expect(headers["referrer-policy"]).toBe("no-referrer");
    expect(headers["x-content-type-options"]).toBe("nosniff");
  });

  it("falls back to gzip, then to the file as it is, as Accept-Encoding allows", async () => {
    const gzip = await get(`${harness.baseUrl}/`, { "accept-encoding": "gzip, br;q=0" });
    expect(gzip.headers["content-encoding"]).toBe("gzip");
    expect(gunzipSync(gzip.body).equals(indexHtml)).toBe(true);
    const plain = await get(`${harness.baseUrl}/`, { "accept-encoding": "identity" });
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(plain.body.equals(indexHtml)).toBe(true);
    const none = await get(`${harness.baseUrl}/`);
    expect(none.body.equals(indexHtml)).toBe(true);
  });

  it("serves the bundle under /assets/ for a year, immutable, and answers 304 to its ETag", async () => {
    expect(script).toMatch(/^\/assets\/.+\.js$/);
    const first = await get(`${harness.baseUrl}${script}`, { "accept-encoding": "br" });
    expect(first.status).toBe(200);
    expect(first.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(first.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(brotliDecompressSync(first.body).equals(readFileSync(path.join(CONSOLE_DIRECTORY, script)))).toBe(true);
    const etag = String(first.headers.etag);
    const again = await get(`${harness.baseUrl}${script}`, { "if-none-match": etag });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
  });

  it("leaves every other path to the API: unknown paths get the JSON 404 envelope", async () => {
    for (const url of ["/nope", "/assets/missing.js", "/index.html.br", "/history"]) {
      const answer = await get(`${harness.baseUrl}${url}`);
      expect(answer.status, url).toBe(404);
      expect(JSON.parse(answer.body.toString())).toMatchObject({ code: 404, data: null });
    }
  });

  it("answers a page that says how to build the console when dist/console/ is missing", async () => {
    const app = Fastify();
    await registerConsole(app, path.join(harness.dataDir, "no-console-here"));
    const answer = await app.inject({ method: "GET", url: "/" });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(answer.body).toContain("npm run build");
    await app.close();
  });
});
