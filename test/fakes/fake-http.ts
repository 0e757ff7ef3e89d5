import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A loopback HTTP server for a fake upstream: started on a free port, closed with its hanging answers. */
export interface FakeHttp {
  readonly url: string;
  close(): Promise<void>;
}

export type FakeHandler = (request: IncomingMessage, response: ServerResponse, body: string) => Promise<void>;

export async function startFakeHttp(handler: FakeHandler, host = "127.0.0.1"): Promise<FakeHttp> {
  const server: Server = createServer((request, response) => {
    readBody(request)
      .then((body) => handler(request, response, body))
      .catch((error: unknown) => {
        if (!response.headersSent && !response.destroyed) sendJson(response, 500, { detail: `fake failure: ${String(error)}` });
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Hanging answers would otherwise keep close() waiting forever.
      server.closeAllConnections();
      await closed;
    },
  };
}

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  response.end(text);
}

export function sendBytes(response: ServerResponse, bytes: Buffer, contentType: string): void {
  response.writeHead(200, { "content-type": contentType, "content-length": bytes.length });
  response.end(bytes);
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function header(request: IncomingMessage, name: string): string | null {
  const value = request.headers[name.toLowerCase()];
  return (Array.isArray(value) ? value[0] : value) ?? null;
}

export function wait(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** An image reference as a service that fetches its inputs reads it: a data: URI decoded, or a URL. */
export interface ReadImageReference {
  kind: "data" | "url";
  mimeType: string | null;
  /** The decoded bytes of a data: URI; null for a URL (the fake does not fetch it). */
  bytes: Buffer | null;
  url: string | null;
}

const DATA_URI = /^data:(image\/[a-z+.-]+);base64,([A-Za-z0-9+/]*={0,2})$/;

/** The reference read, or null when it is neither a base64 image data: URI nor an http(s) URL. */
export function readImageReference(value: unknown): ReadImageReference | null {
  if (typeof value !== "string") return null;
  const data = DATA_URI.exec(value);
  if (data !== null) {
    const bytes = Buffer.from(data[2] as string, "base64");
    return bytes.length > 0 ? { kind: "data", mimeType: data[1] as string, bytes, url: null } : null;
  }
  if (/^https?:\/\/[^\s/]+/.test(value)) return { kind: "url", mimeType: null, bytes: null, url: value };
  return null;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
