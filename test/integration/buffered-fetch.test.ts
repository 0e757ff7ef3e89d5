import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bufferedFetch } from "../../src/providers/gemini/buffered-fetch.ts";
import { freePort } from "../helpers/test-server.ts";

let server: Server;
let base: string;
const seen: { method: string; headers: IncomingMessage["headers"]; body: string }[] = [];

async function answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
  let body = "";
  for await (const chunk of request) body += String(chunk);
  seen.push({ method: request.method ?? "", headers: request.headers, body });
  const path = request.url ?? "/";
  if (path === "/json") {
    response.setHeader("set-cookie", ["a=1", "b=2"]);
    response.writeHead(200, { "content-type": "application/json", "x-upstream": "yes" });
    response.end(JSON.stringify({ echoed: body }));
  } else if (path === "/refuse") {
    response.writeHead(429, { "content-type": "text/plain" });
    response.end("slow down");
  } else if (path === "/empty") {
    response.writeHead(204);
    response.end();
  } else if (path === "/hang") {
    response.writeHead(200, { "content-type": "application/json" });
    response.write('{"partial":');
  }
}

beforeAll(async () => {
  server = createServer((request, response) => void answer(request, response));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe("bufferedFetch", () => {
  it("sends the method, headers and body, and answers a Response with the status, headers and body", async () => {
    const response = await bufferedFetch(`${base}/json`, {
      method: "POST",
      headers: new Headers({ "content-type": "application/json", "x-goog-api-key": "secret" }),
      body: '{"contents":[]}',
    });
    expect(seen.at(-1)).toMatchObject({ method: "POST", body: '{"contents":[]}' });
    expect(seen.at(-1)?.headers).toMatchObject({ "content-type": "application/json", "x-goog-api-key": "secret" });
    expect(response.ok).toBe(true);
    expect(response.status).toBe(200);
    expect(response.statusText).toBe("OK");
    expect(response.headers.get("x-upstream")).toBe("yes");
    expect(response.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(await response.json()).toEqual({ echoed: '{"contents":[]}' });
  });

  it("answers an error status as a Response too, for the SDK to read", async () => {
    const response = await bufferedFetch(`${base}/refuse`, { method: "GET", headers: { accept: "text/plain" } });
    expect(response.ok).toBe(false);
    expect(response.status).toBe(429);
    expect(response.statusText).toBe("Too Many Requests");
    expect(await response.text()).toBe("slow down");
  });

  it("answers 204 with no body", async () => {
    const response = await bufferedFetch(`${base}/empty`);
    expect(response.status).toBe(204);
    expect(response.body).toBeNull();
  });

  it("rejects with a TypeError whose cause says why when the server cannot be reached", async () => {
    const port = await freePort();
    const failure = await bufferedFetch(`http://127.0.0.1:${port}/`, { method: "POST", body: "{}" }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TypeError);
    expect(((failure as TypeError).cause as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
  });

  it("rejects with the signal's reason when aborted, also while the body is still arriving", async () => {
    const reason = new Error("the task was canceled");
    const controller = new AbortController();
    const pending = bufferedFetch(`${base}/hang`, { signal: controller.signal });
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);
    const timedOut = await bufferedFetch(`${base}/hang`, { signal: AbortSignal.timeout(50) }).catch((error: unknown) => error);
    expect((timedOut as DOMException).name).toBe("TimeoutError");
  });

  it("leaves a body that is not a string to the platform's fetch", async () => {
    const response = await bufferedFetch(`${base}/json`, { method: "POST", body: new URLSearchParams({ a: "1" }) });
    expect(await response.json()).toEqual({ echoed: "a=1" });
  });
});
