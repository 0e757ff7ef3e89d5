import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer as createTcpServer } from "node:net";
import type { AddressInfo, Server as TcpServer, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  OutboundNetworkError,
  OutboundRefusedError,
  createGuardedFetch,
  policyFromConfig,
} from "../../src/net/guarded-fetch.ts";
import type { GuardedFetch, HostLookup, ResolvedAddress } from "../../src/net/guarded-fetch.ts";

interface ReceivedRequest {
  method: string;
  url: string;
  host: string | undefined;
  body: string;
}

interface Receiver {
  port: number;
  requests: ReceivedRequest[];
}

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

const servers: Array<Server | TcpServer> = [];
const openSockets = new Set<Socket>();

afterEach(async () => {
  for (const socket of openSockets) socket.destroy();
  openSockets.clear();
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          if ("closeAllConnections" in server) server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

async function listen(server: Server | TcpServer): Promise<number> {
  servers.push(server);
  server.on("connection", (socket: Socket) => {
    openSockets.add(socket);
    socket.on("close", () => openSockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** A receiver on 127.0.0.1 that records every request and answers with `handler` (200 "ok" by default). */
async function startReceiver(handler?: Handler): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      requests.push({
        method: request.method ?? "",
        url: request.url ?? "",
        host: request.headers.host,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      if (handler) {
        handler(request, response);
      } else {
        response.writeHead(200, { "content-type": "text/plain" }).end("ok");
      }
    });
  });
  return { port: await listen(server), requests };
}

function staticLookup(...addresses: string[]): HostLookup & { calls: string[] } {
  const calls: string[] = [];
  const lookup = async (hostname: string): Promise<ResolvedAddress[]> => {
    calls.push(hostname);
    return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return Object.assign(lookup, { calls });
}

const post = { method: "POST", headers: { "content-type": "application/json" }, body: '{"code":200}' };
const strict = policyFromConfig(false, undefined);

async function refusal(fetch: GuardedFetch, url: string): Promise<OutboundRefusedError> {
  const error: unknown = await fetch(url, post).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(OutboundRefusedError);
  return error as OutboundRefusedError;
}

async function networkFailure(fetch: GuardedFetch, url: string): Promise<OutboundNetworkError> {
  const error: unknown = await fetch(url, post).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(OutboundNetworkError);
  return error as OutboundNetworkError;
}

describe("guarded fetch: the default policy", () => {
  it("refuses a loopback receiver with the reason, and never connects", async () => {
    const receiver = await startReceiver();
    const fetch = createGuardedFetch({ policy: strict, urlName: "callBackUrl" });
    const error = await refusal(fetch, `http://127.0.0.1:${receiver.port}/hook`);
    expect(error.reason).toBe("callBackUrl host 127.0.0.1 is a loopback address");
    expect(receiver.requests).toHaveLength(0);
  });

  it("refuses a hostname that resolves to 127.0.0.1", async () => {
    const receiver = await startReceiver();
    const lookup = staticLookup("127.0.0.1");
    const fetch = createGuardedFetch({ policy: strict, lookup, urlName: "callBackUrl" });
    const error = await refusal(fetch, `http://callbacks.example:${receiver.port}/hook`);
    expect(error.reason).toBe("callBackUrl host callbacks.example resolves to 127.0.0.1, a loopback address");
    expect(lookup.calls).toEqual(["callbacks.example"]);
    expect(receiver.requests).toHaveLength(0);
  });

  it("refuses a hostname that resolves to a private address", async () => {
    const fetch = createGuardedFetch({ policy: strict, lookup: staticLookup("10.0.0.5"), urlName: "callBackUrl" });
    const error = await refusal(fetch, "https://example.internal/hook");
    expect(error.reason).toBe("callBackUrl host example.internal resolves to 10.0.0.5, a private address");
  });

  it.each([
    [["8.8.8.8", "127.0.0.1"], "127.0.0.1, a loopback address"],
    [["169.254.169.254", "8.8.8.8"], "169.254.169.254, a link-local address (cloud metadata)"],
    [["2606:4700:4700::1111", "fd00::1"], "fd00::1, a unique local (private) address"],
  ])("refuses when any resolved address is not allowed: %j", async (addresses, tail) => {
    const fetch = createGuardedFetch({ policy: strict, lookup: staticLookup(...addresses), urlName: "callBackUrl" });
    const error = await refusal(fetch, "http://mixed.example/hook");
    expect(error.reason).toBe(`callBackUrl host mixed.example resolves to ${tail}`);
  });

  it.each([
    ["http://2130706433:PORT/", "127.0.0.1 is a loopback address"],
    ["http://0177.0.0.1:PORT/", "127.0.0.1 is a loopback address"],
    ["http://0x7f.1:PORT/", "127.0.0.1 is a loopback address"],
    ["http://0x7f000001:PORT/", "127.0.0.1 is a loopback address"],
    ["http://2852039166/latest/meta-data/", "169.254.169.254 is a link-local address (cloud metadata)"],
    ["http://0251.0376.0251.0376/latest/meta-data/", "169.254.169.254 is a link-local address (cloud metadata)"],
    ["http://0xa9fea9fe/latest/meta-data/", "169.254.169.254 is a link-local address (cloud metadata)"],
    ["http://[::1]:PORT/", "::1 is a loopback address"],
    ["http://[::ffff:127.0.0.1]:PORT/", "::ffff:7f00:1 is an IPv4-mapped loopback address"],
    ["http://[::ffff:7f00:1]:PORT/", "::ffff:7f00:1 is an IPv4-mapped loopback address"],
    ["http://[64:ff9b::7f00:1]:PORT/", "64:ff9b::7f00:1 is a NAT64 loopback address"],
    ["http://0.0.0.0:PORT/", "0.0.0.0 is an unspecified address"],
  ])("refuses the literal spelling %s", async (template, tail) => {
    const receiver = await startReceiver();
    const lookup = staticLookup("8.8.8.8");
    const fetch = createGuardedFetch({ policy: strict, lookup, urlName: "callBackUrl" });
    const error = await refusal(fetch, template.replace("PORT", String(receiver.port)));
    expect(error.reason).toBe(`callBackUrl host ${tail}`);
    expect(lookup.calls).toEqual([]);
    expect(receiver.requests).toHaveLength(0);
  });

  it.each([
    ["ftp://127.0.0.1/file", "callBackUrl uses scheme ftp:, only http and https are allowed"],
    ["file:///etc/passwd", "callBackUrl uses scheme file:, only http and https are allowed"],
    ["gopher://127.0.0.1:6379/_FLUSHALL", "callBackUrl uses scheme gopher:, only http and https are allowed"],
    ["ws://example.com/socket", "callBackUrl uses scheme ws:, only http and https are allowed"],
    ["not a url", "callBackUrl is not a valid URL"],
  ])("refuses %s even when private addresses are allowed", async (url, reason) => {
    const fetch = createGuardedFetch({ policy: policyFromConfig(true, undefined), urlName: "callBackUrl" });
    const error = await refusal(fetch, url);
    expect(error.reason).toBe(reason);
  });
});

describe("guarded fetch: allowed receivers", () => {
  it("delivers to loopback when allowPrivate is set", async () => {
    const receiver = await startReceiver();
    const fetch = createGuardedFetch({ policy: policyFromConfig(true, undefined) });
    const response = await fetch(`http://127.0.0.1:${receiver.port}/hook?attempt=1`, post);
    expect(response).toMatchObject({ status: 200, bodyText: "ok", bodyTruncated: false, address: "127.0.0.1" });
    expect(response.headers.get("content-type")).toBe("text/plain");
    expect(response.durationMs).toBeGreaterThanOrEqual(0);
    expect(receiver.requests).toEqual([
      { method: "POST", url: "/hook?attempt=1", host: `127.0.0.1:${receiver.port}`, body: '{"code":200}' },
    ]);
  });

  it("delivers to loopback when an allowlist contains 127.0.0.1/32, and still refuses other private space", async () => {
    const receiver = await startReceiver();
    const fetch = createGuardedFetch({ policy: policyFromConfig(false, "127.0.0.1/32"), urlName: "callBackUrl" });
    const response = await fetch(`http://127.0.0.1:${receiver.port}/hook`, post);
    expect(response.status).toBe(200);
    expect(receiver.requests).toHaveLength(1);
    const error = await refusal(fetch, "http://10.0.0.5/hook");
    expect(error.reason).toBe("callBackUrl host 10.0.0.5 is a private address");
  });

  it("returns at most 64 KiB of the body and stops reading", async () => {
    const receiver = await startReceiver((_request, response) => {
      response.writeHead(200, { "content-type": "text/plain" }).end("x".repeat(300 * 1024));
    });
    const fetch = createGuardedFetch({ policy: policyFromConfig(true, undefined) });
    const response = await fetch(`http://127.0.0.1:${receiver.port}/big`, post);
    expect(response.bodyText).toHaveLength(64 * 1024);
    expect(response.bodyTruncated).toBe(true);
  });
});

describe("guarded fetch: the connection goes to the checked address", () => {
  it("connects to the address that passed the check, never resolving again (DNS rebinding)", async () => {
    const receiver = await startReceiver();
    // A rebinding resolver: the first answer passes the allowlist, every later one points elsewhere.
    const answers = ["127.0.0.1", "10.0.0.5"];
    const calls: string[] = [];
    const lookup: HostLookup = async (hostname) => {
      calls.push(hostname);
      const address = answers[Math.min(calls.length - 1, answers.length - 1)] ?? "10.0.0.5";
      return [{ address, family: 4 }];
    };
    const fetch = createGuardedFetch({ policy: policyFromConfig(false, "127.0.0.1/32"), lookup });
    // The .invalid name cannot be resolved by the system, so reaching the receiver proves the pin was used.
    const response = await fetch(`http://rebind.invalid:${receiver.port}/hook`, post);
    expect(response).toMatchObject({ status: 200, address: "127.0.0.1" });
    expect(calls).toEqual(["rebind.invalid"]);
    expect(receiver.requests).toEqual([
      { method: "POST", url: "/hook", host: `rebind.invalid:${receiver.port}`, body: '{"code":200}' },
    ]);
  });

  it("keeps the caller's headers but takes Host from the URL", async () => {
    const receiver = await startReceiver();
    const fetch = createGuardedFetch({
      policy: policyFromConfig(false, "127.0.0.1/32"),
      lookup: staticLookup("127.0.0.1"),
    });
    await fetch(`http://callbacks.example:${receiver.port}/hook`, {
      method: "POST",
      headers: { Host: "metadata.google.internal", "x-signature": "v1,abc" },
      body: "{}",
    });
    expect(receiver.requests[0]?.host).toBe(`callbacks.example:${receiver.port}`);
  });

  it("sends the URL's hostname as the TLS server name while dialling the pinned address", async () => {
    const serverNames: string[] = [];
    const tlsListener = createTcpServer((socket) => {
      // The ClientHello is plaintext; the SNI extension carries the server name as ASCII.
      socket.once("data", (chunk: Buffer) => {
        if (chunk[0] === 0x16 && chunk.includes("callbacks.example")) serverNames.push("callbacks.example");
        socket.destroy();
      });
    });
    const port = await listen(tlsListener);
    const fetch = createGuardedFetch({ policy: policyFromConfig(true, undefined), lookup: staticLookup("127.0.0.1") });
    const error = await networkFailure(fetch, `https://callbacks.example:${port}/hook`);
    expect(error.reason).toMatch(/\((ECONNRESET|UND_ERR_SOCKET|ERR_SSL_\w+|ERR_TLS_\w+)\)$/);
    expect(serverNames).toEqual(["callbacks.example"]);
  });
});

describe("guarded fetch: redirects", () => {
  it("returns a 302 as is and never contacts the Location", async () => {
    const privateTarget = await startReceiver();
    const location = `http://127.0.0.1:${privateTarget.port}/private`;
    const redirecting = await startReceiver((_request, response) => {
      response.writeHead(302, { location }).end();
    });
    const fetch = createGuardedFetch({
      policy: policyFromConfig(false, "127.0.0.1/32"),
      lookup: staticLookup("127.0.0.1"),
    });
    const response = await fetch(`http://public-receiver.example:${redirecting.port}/hook`, post);
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe(location);
    expect(redirecting.requests).toHaveLength(1);
    expect(privateTarget.requests).toHaveLength(0);
  });
});

describe("guarded fetch: network failures", () => {
  it("reports a refused connection", async () => {
    const closed = createTcpServer();
    const port = await listen(closed);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    servers.splice(servers.indexOf(closed), 1);
    const fetch = createGuardedFetch({ policy: policyFromConfig(true, undefined) });
    const error = await networkFailure(fetch, `http://127.0.0.1:${port}/hook`);
    expect(error.reason).toBe("connection refused (ECONNREFUSED)");
  });

  it("honours the total timeout when the receiver never answers", async () => {
    const silent = await startReceiver(() => undefined);
    const fetch = createGuardedFetch({ policy: policyFromConfig(true, undefined), timeoutMs: 300 });
    const startedAt = performance.now();
    const error = await networkFailure(fetch, `http://127.0.0.1:${silent.port}/hook`);
    expect(error.reason).toBe("timed out after 300 ms");
    expect(performance.now() - startedAt).toBeLessThan(2_000);
    expect(silent.requests).toHaveLength(1);
  });

  it("counts the DNS lookup against the timeout", async () => {
    const hanging: HostLookup = () => new Promise<ResolvedAddress[]>(() => undefined);
    const fetch = createGuardedFetch({ policy: strict, lookup: hanging, timeoutMs: 300 });
    const error = await networkFailure(fetch, "http://slow-dns.example/hook");
    expect(error.reason).toBe("timed out after 300 ms");
  });

  it("reports a caller's abort", async () => {
    const silent = await startReceiver(() => undefined);
    const fetch = createGuardedFetch({ policy: policyFromConfig(true, undefined) });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const error: unknown = await fetch(`http://127.0.0.1:${silent.port}/hook`, { ...post, signal: controller.signal }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(OutboundNetworkError);
    expect((error as OutboundNetworkError).reason).toBe("aborted");
  });

  it("reports a failed DNS lookup", async () => {
    const failing: HostLookup = async () => {
      throw Object.assign(new Error("getaddrinfo ENOTFOUND nowhere.invalid"), { code: "ENOTFOUND" });
    };
    const fetch = createGuardedFetch({ policy: strict, lookup: failing });
    const error = await networkFailure(fetch, "http://nowhere.invalid/hook");
    expect(error.reason).toBe("DNS lookup failed (ENOTFOUND)");
  });
});
