import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/** Where scripts/build.js writes the bundled console: dist/console/, from src/api/ or dist/api/ alike. */
export const CONSOLE_DIRECTORY = fileURLToPath(new URL("../../dist/console/", import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json; charset=utf-8",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
};

/**
 * The page's own scripts and styles only; images also from wherever result URLs point (an S3
 * bucket's presigned URLs are on another origin). No other site may frame the console.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob: https: http:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

interface ConsoleFile {
  contentType: string;
  etag: string;
  cacheControl: string;
  /** The file as it is, then its Brotli and gzip forms where the build wrote them. */
  identity: Buffer;
  br: Buffer | null;
  gzip: Buffer | null;
}

async function readIfPresent(file: string): Promise<Buffer | null> {
  try {
    return await readFile(file);
  } catch {
    return null;
  }
}

/** Every file the build wrote, keyed by its URL path; null when the console was never built. */
async function loadConsole(directory: string): Promise<Map<string, ConsoleFile> | null> {
  let entries;
  try {
    entries = await readdir(directory, { recursive: true, withFileTypes: true });
  } catch {
    return null;
  }
  const files = new Map<string, ConsoleFile>();
  for (const entry of entries) {
    if (!entry.isFile() || entry.name.endsWith(".br") || entry.name.endsWith(".gz")) continue;
    const file = path.join(entry.parentPath, entry.name);
    const urlPath = `/${path.relative(directory, file).split(path.sep).join("/")}`;
    const identity = await readFile(file);
    // Bundled assets carry their content's hash in their names: they never change at their URL.
    const hashed = urlPath.startsWith("/assets/");
    files.set(urlPath, {
      contentType: CONTENT_TYPES[path.extname(entry.name)] ?? "application/octet-stream",
      etag: `"${createHash("sha256").update(identity).digest("base64url").slice(0, 22)}"`,
      cacheControl: hashed ? "public, max-age=31536000, immutable" : "no-cache",
      identity,
      br: await readIfPresent(`${file}.br`),
      gzip: await readIfPresent(`${file}.gz`),
    });
  }
  return files.has("/index.html") ? files : null;
}

/** The content codings a request accepts (q above 0), from its Accept-Encoding header. */
function acceptedEncodings(header: string | undefined): Set<string> {
  const accepted = new Set<string>();
  for (const part of (header ?? "").split(",")) {
    const [coding = "", ...parameters] = part.split(";").map((piece) => piece.trim().toLowerCase());
    const quality = parameters.find((parameter) => parameter.startsWith("q="));
    if (coding !== "" && (quality === undefined || Number(quality.slice(2)) > 0)) accepted.add(coding);
  }
  return accepted;
}

/** The encoding to send: Brotli, then gzip, when the request accepts it and the build wrote it. */
function chooseEncoding(request: FastifyRequest, file: ConsoleFile): "br" | "gzip" | null {
  const accepted = acceptedEncodings(request.headers["accept-encoding"]);
  if (file.br !== null && (accepted.has("br") || accepted.has("*"))) return "br";
  if (file.gzip !== null && (accepted.has("gzip") || accepted.has("*"))) return "gzip";
  return null;
}

function send(request: FastifyRequest, reply: FastifyReply, file: ConsoleFile, page: boolean): FastifyReply {
  reply.header("Cache-Control", file.cacheControl).header("ETag", file.etag).header("Vary", "Accept-Encoding");
  reply.header("X-Content-Type-Options", "nosniff");
  if (page) reply.header("Content-Security-Policy", CONTENT_SECURITY_POLICY).header("Referrer-Policy", "no-referrer").header("X-Frame-Options", "DENY");
  if (request.headers["if-none-match"] === file.etag) return reply.code(304).send();
  const encoding = chooseEncoding(request, file);
  const body = encoding === "br" ? file.br : encoding === "gzip" ? file.gzip : file.identity;
  if (encoding !== null) reply.header("Content-Encoding", encoding);
  return reply.code(200).type(file.contentType).send(body);
}

const NOT_BUILT_PAGE = `<!doctype html><html lang="en"><meta charset="utf-8"><title>imagegate</title>
<body style="font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem">
<h1>imagegate</h1><p>The API is running. Its web console has not been built: run <code>npm run build</code>
(or <code>npm install</code>), then restart the server. The API is documented at <a href="/docs">/docs</a>.</p></body></html>`;

/**
 * The web console at / and its bundled files under /assets/, held in memory (about 40 KiB) and
 * sent Brotli- or gzip-compressed as the build wrote them. Any other path stays the API's.
 */
export async function registerConsole(app: FastifyInstance, directory = CONSOLE_DIRECTORY): Promise<void> {
  const files = await loadConsole(directory);
  const schema = { hide: true };
  if (files === null) {
    app.get("/", { schema }, async (_request, reply) => reply.code(200).type("text/html; charset=utf-8").header("Cache-Control", "no-cache").send(NOT_BUILT_PAGE));
    return;
  }
  const index = files.get("/index.html") as ConsoleFile;
  app.get("/", { schema }, async (request, reply) => send(request, reply, index, true));
  for (const [urlPath, file] of files) {
    if (urlPath === "/index.html") continue;
    app.get(urlPath, { schema }, async (request, reply) => send(request, reply, file, false));
  }
}
