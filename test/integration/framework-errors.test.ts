import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, startTestServer, type TestServer } from "../helpers/test-server.ts";

const ADMIN_KEY = "admin-key-for-tests-0123456789abcdef";
const GENERATED_ID = /^req_[A-Za-z0-9_-]+$/;
let harness: TestServer;
let port: number;

beforeAll(async () => {
  harness = await startTestServer({ ADMIN_API_KEY: ADMIN_KEY });
  port = Number(new URL(harness.baseUrl).port);
});
afterAll(async () => {
  await harness.close();
});

interface RawAnswer {
  statusLine: string;
  headers: Map<string, string>;
  body: unknown;
}

/** Writes bytes on a fresh TCP connection and reads every answer until the server closes it. */
async function rawExchange(request: string): Promise<RawAnswer[]> {
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(Buffer.from(request, "latin1")));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection; it sent ${Buffer.concat(chunks).toString()}`));
    }, 5000);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
  });
  const answers: RawAnswer[] = [];
  let rest = text;
  while (rest !== "") {
    const headEnd = rest.indexOf("\r\n\r\n");
    if (headEnd < 0) throw new Error(`no complete answer: ${JSON.stringify(rest)}`);
    const [statusLine = "", ...headerLines] = rest.slice(0, headEnd).split("\r\n");
    const headers = new Map<string, string>();
    for (const line of headerLines) {
      const colon = line.indexOf(":");
      headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    const length = Number(headers.get("content-length"));
    const body = rest.slice(headEnd + 4, headEnd + 4 + length);
    expect(Buffer.byteLength(body)).toBe(length);
    answers.push({ statusLine, headers, body: JSON.parse(body) });
    rest = rest.slice(headEnd + 4 + length);
  }
  return answers;
}

/** The one answer to a request that is refused. */
async function refusalOf(request: string): Promise<RawAnswer> {
  const answers = await rawExchange(request);
  expect(answers).toHaveLength(1);
  const [answer] = answers;
  if (answer === undefined) throw new Error("no answer");
  return answer;
}

function expectRefusal(answer: RawAnswer, statusLine: string, message: string): void {
  expect(answer.statusLine).toBe(statusLine);
  const status = Number(statusLine.split(" ")[1]);
  expect(answer.body).toEqual({ code: status, msg: message, data: null });
  expect(answer.headers.get("content-type")).toBe("application/json; charset=utf-8");
  expect(answer.headers.get("connection")).toBe("close");
  expect(answer.headers.get("x-request-id")).toMatch(GENERATED_ID);
}

describe("requests Node's HTTP parser refuses", () => {
  it("answers Content-Length together with Transfer-Encoding with a 400 envelope", async () => {
    const answer = await refusalOf(
      "POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    expectRefusal(answer, "HTTP/1.1 400 Bad Request", "The request's Transfer-Encoding is not valid: it must end in chunked and not come with Content-Length.");
  });

  it("answers a NUL byte in a header value with a 400 envelope", async () => {
    const answer = await refusalOf("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a\x00b\r\n\r\n");
    expectRefusal(answer, "HTTP/1.1 400 Bad Request", "A request header has a character that is not allowed, or is folded onto a second line.");
  });

  it("answers a DEL byte in a header value with a 400 envelope", async () => {
    const answer = await refusalOf("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a\x7fb\r\n\r\n");
    expectRefusal(answer, "HTTP/1.1 400 Bad Request", "A request header has a character that is not allowed, or is folded onto a second line.");
  });

  it("answers a header folded onto a second line (obs-fold) with a 400 envelope", async () => {
    const answer = await refusalOf("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a\r\n b\r\n\r\n");
    expectRefusal(answer, "HTTP/1.1 400 Bad Request", "A request header has a character that is not allowed, or is folded onto a second line.");
  });

  it("answers a header line ended by a bare LF with a 400 envelope", async () => {
    const answer = await refusalOf("GET /healthz HTTP/1.1\r\nHost: x\nX-Note: b\r\n\r\n");
    expectRefusal(answer, "HTTP/1.1 400 Bad Request", "The request is not valid HTTP/1.1: each line must end with CR LF.");
  });

  it("answers a request line ended by a bare LF with a 400 envelope", async () => {
    const answer = await refusalOf("GET /healthz HTTP/1.1\nHost: x\n\n");
    expectRefusal(answer, "HTTP/1.1 400 Bad Request", "The request is not valid HTTP/1.1 and could not be read.");
  });

  it("answers headers over 16 KB with a 431 envelope", async () => {
    const answer = await refusalOf(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: ${"a".repeat(17 * 1024)}\r\n\r\n`);
    expectRefusal(answer, "HTTP/1.1 431 Request Header Fields Too Large", "A request header is too large: headers may be at most 16 KB in all.");
  });

  it("answers the good requests pipelined ahead of a malformed one first, then refuses it, and keeps serving", async () => {
    const good = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    const answers = await rawExchange(`${good}${good}GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a\x00b\r\n\r\n`);
    expect(answers.map((answer) => answer.statusLine)).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 400 Bad Request"]);
    expect(answers[0]?.body).toEqual({ code: 200, msg: "success", data: { status: "ok" } });
    const refusal = answers[2];
    if (refusal === undefined) throw new Error("no refusal");
    expectRefusal(refusal, "HTTP/1.1 400 Bad Request", "A request header has a character that is not allowed, or is folded onto a second line.");
    const after = await fetch(`${harness.baseUrl}/healthz`);
    expect(after.status).toBe(200);
  });
});

describe("requests Node's HTTP server would answer itself", () => {
  it("answers an HTTP/1.1 request without a Host header with a 400 envelope", async () => {
    const answer = await refusalOf("GET /healthz HTTP/1.1\r\n\r\n");
    expectRefusal(answer, "HTTP/1.1 400 Bad Request", "The request has no Host header: HTTP/1.1 requires one.");
  });

  it("serves an HTTP/1.0 request without a Host header, which that version allows", async () => {
    const [answer] = await rawExchange("GET /healthz HTTP/1.0\r\n\r\n");
    expect(answer?.statusLine).toBe("HTTP/1.1 200 OK");
    expect(answer?.body).toEqual({ code: 200, msg: "success", data: { status: "ok" } });
  });

  it("answers an Expect header other than 100-continue with a 417 envelope", async () => {
    const answer = await refusalOf("GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n");
    expectRefusal(answer, "HTTP/1.1 417 Expectation Failed", "The request's Expect header cannot be met: the only expectation served is 100-continue.");
  });
});

describe("requests Fastify's router refuses", () => {
  it("answers a URL that does not decode with a 400 envelope and the request id", async () => {
    const answer = await call(harness.baseUrl, "GET", "/api/v1/jobs/%ZZ", { key: harness.key });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ code: 400, msg: "The request URL is not valid.", data: null });
    expect(answer.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(answer.headers.get("x-request-id")).toMatch(GENERATED_ID);
  });

  it("keeps the caller's own X-Request-Id on a URL that does not decode", async () => {
    const answer = await call(harness.baseUrl, "GET", "/api/v1/jobs/%ZZ", { headers: { "X-Request-Id": "client-42" } });
    expect(answer.status).toBe(400);
    expect(answer.headers.get("x-request-id")).toBe("client-42");
  });

  it("answers an admin path parameter over 100 characters with a 414 envelope", async () => {
    const answer = await call(harness.baseUrl, "GET", `/admin/v1/accounts/${"a".repeat(200)}`, { key: ADMIN_KEY });
    expect(answer.status).toBe(414);
    expect(answer.body).toEqual({
      code: 414,
      msg: "A path segment of the request URL is too long: each may be at most 100 characters.",
      data: null,
    });
    expect(answer.headers.get("x-request-id")).toMatch(GENERATED_ID);
  });

  it("answers an admin path parameter of 100 characters by the route: no such account", async () => {
    const answer = await call(harness.baseUrl, "GET", `/admin/v1/accounts/${"a".repeat(100)}`, { key: ADMIN_KEY });
    expect(answer.status).toBe(404);
    expect(answer.body.code).toBe(404);
  });
});
