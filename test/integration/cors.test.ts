import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/test-server.ts";

const PAGE = "https://app.example.com";

/** What a browser sends before a cross-origin createTask with a key and a JSON body. */
async function preflight(baseUrl: string, origin: string, path = "/api/v1/jobs/createTask"): Promise<Response> {
  const response = await fetch(`${baseUrl}${path}`, {
    method: "OPTIONS",
    headers: {
      Origin: origin,
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
    },
  });
  await response.arrayBuffer();
  return response;
}

async function recordInfo(harness: TestServer, origin: string, key: string | null = harness.key): Promise<Response> {
  const response = await fetch(`${harness.baseUrl}/api/v1/jobs/recordInfo?taskId=task_00000000000000000000000000`, {
    headers: { Origin: origin, ...(key === null ? {} : { Authorization: `Bearer ${key}` }) },
  });
  await response.arrayBuffer();
  return response;
}

describe("without CORS_ORIGINS", () => {
  let harness: TestServer;
  beforeAll(async () => {
    harness = await startTestServer();
  });
  afterAll(async () => {
    await harness.close();
  });

  it("answers a preflight without allowing the origin", async () => {
    const response = await preflight(harness.baseUrl, PAGE);
    expect(response.status).toBe(404);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    expect(response.headers.get("access-control-allow-methods")).toBeNull();
  });

  it("adds no CORS headers to an answer", async () => {
    const response = await recordInfo(harness, PAGE);
    expect(response.status).toBe(404);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    expect(response.headers.get("access-control-expose-headers")).toBeNull();
  });
});

describe("with CORS_ORIGINS=*", () => {
  let harness: TestServer;
  beforeAll(async () => {
    harness = await startTestServer({ CORS_ORIGINS: "*" });
  });
  afterAll(async () => {
    await harness.close();
  });

  it("answers a preflight 204 allowing any origin, the API's methods and headers, without credentials", async () => {
    const response = await preflight(harness.baseUrl, "https://anywhere.example");
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("access-control-allow-methods")).toBe("GET, POST");
    expect(response.headers.get("access-control-allow-headers")).toBe("Authorization, Content-Type, Idempotency-Key, X-Request-Id");
    expect(response.headers.get("access-control-max-age")).toBe("600");
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("lets the page read an answer, its request id and rate-limit headers", async () => {
    const response = await recordInfo(harness, "https://anywhere.example");
    expect(response.status).toBe(404);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("access-control-expose-headers")).toBe("X-Request-Id, RateLimit, RateLimit-Policy, Retry-After");
    expect(response.headers.get("ratelimit")).not.toBeNull();
  });

  it("lets the page read a 401, so it can tell the user the key is wrong", async () => {
    const response = await recordInfo(harness, "https://anywhere.example", null);
    expect(response.status).toBe(401);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("sends the CORS headers with streamInfo's event stream", async () => {
    const created = await fetch(`${harness.baseUrl}/api/v1/jobs/createTask`, {
      method: "POST",
      headers: { Authorization: `Bearer ${harness.key}`, "Content-Type": "application/json" },
      body: JSON.stringify({ model: "nano-banana-text-to-image", input: { prompt: "A red kite" } }),
    });
    const { data } = (await created.json()) as { data: { taskId: string } };
    const controller = new AbortController();
    const response = await fetch(`${harness.baseUrl}/api/v1/jobs/streamInfo?taskId=${data.taskId}`, {
      headers: { Origin: PAGE, Authorization: `Bearer ${harness.key}` },
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("x-request-id")).toMatch(/^req_/);
    expect(response.headers.get("ratelimit")).not.toBeNull();
    controller.abort();
  });
});

describe("with CORS_ORIGINS listing origins", () => {
  let harness: TestServer;
  beforeAll(async () => {
    harness = await startTestServer({ CORS_ORIGINS: `${PAGE}, http://localhost:3000` });
  });
  afterAll(async () => {
    await harness.close();
  });

  it("allows a listed origin, naming it", async () => {
    for (const origin of [PAGE, "http://localhost:3000"]) {
      const response = await preflight(harness.baseUrl, origin);
      expect(response.status).toBe(204);
      expect(response.headers.get("access-control-allow-origin")).toBe(origin);
      expect(response.headers.get("vary")).toContain("Origin");
      expect(response.headers.get("access-control-allow-methods")).toBe("GET, POST");
    }
    const answer = await recordInfo(harness, PAGE);
    expect(answer.headers.get("access-control-allow-origin")).toBe(PAGE);
    expect(answer.headers.get("vary")).toContain("Origin");
  });

  it("does not allow an origin that is not listed", async () => {
    for (const origin of ["https://evil.example", "https://app.example.com:8443", "http://app.example.com"]) {
      const response = await preflight(harness.baseUrl, origin);
      expect(response.headers.get("access-control-allow-origin")).toBeNull();
      const answer = await recordInfo(harness, origin);
      expect(answer.status).toBe(404);
      expect(answer.headers.get("access-control-allow-origin")).toBeNull();
    }
  });
});
