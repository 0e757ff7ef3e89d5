import { lookup as systemLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { Client, buildConnector } from "undici";
import type { IncomingHttpHeaders } from "node:http";
import { classifyAddress, isInNetworks, parseNetwork, withArticle } from "./address-policy.ts";
import type { Network } from "./address-policy.ts";
import { parseOutboundUrl } from "./host-parsing.ts";
import type { OutboundTarget } from "./host-parsing.ts";

/** Which addresses outbound requests may reach beyond public unicast. */
export interface OutboundPolicy {
  /** Local development and tests: every address is allowed. */
  allowPrivate: boolean;
  /** Networks allowed even though they are not public (e.g. a receiver on 10.1.2.3). */
  allowNetworks: Network[];
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export type HostLookup = (hostname: string) => Promise<ResolvedAddress[]>;

export interface GuardedRequest {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

export interface GuardedResponse {
  status: number;
  headers: Headers;
  /** At most the body limit of the body, decoded as UTF-8 when first read. */
  bodyText: string;
  /** The same bytes, undecoded. */
  bodyBytes: Buffer;
  /** True when the body was longer than the limit and reading stopped. */
  bodyTruncated: boolean;
  durationMs: number;
  /** The address the connection was made to: the one that passed the check. */
  address: string;
}

export type GuardedFetch = (url: string, init: GuardedRequest) => Promise<GuardedResponse>;

export interface GuardedFetchOptions {
  policy: OutboundPolicy;
  lookup?: HostLookup;
  /** Total budget for lookup, connect, request and reading the body. */
  timeoutMs?: number;
  /** Names the URL in refusal reasons, e.g. "callBackUrl". */
  urlName?: string;
  /** How much of a body is read (`BODY_LIMIT_BYTES` unless given); the rest is left unread. */
  maxBodyBytes?: number;
  /** Monotonic milliseconds, for `durationMs`. */
  now?: () => number;
}

/** The request was refused before any connection was made; `reason` is safe to record and show. */
export class OutboundRefusedError extends Error {
  override readonly name = "OutboundRefusedError";
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** The request was allowed but failed on the network (DNS, connect, TLS, timeout). */
export class OutboundNetworkError extends Error {
  override readonly name = "OutboundNetworkError";
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}

export const BODY_LIMIT_BYTES = 64 * 1024;
export const DEFAULT_TIMEOUT_MS = 15_000;

/**
 * Builds the policy from the raw settings (CALLBACK_ALLOW_PRIVATE, CALLBACK_ALLOW_NETWORKS).
 * Throws on an invalid network so configuration fails at startup, naming the bad entry.
 */
export function policyFromConfig(allowPrivate: boolean, allowNetworksText: string | undefined): OutboundPolicy {
  const allowNetworks: Network[] = [];
  for (const entry of (allowNetworksText ?? "").split(",")) {
    if (entry.trim() === "") continue;
    const network = parseNetwork(entry);
    if (network === null) {
      throw new Error(`CALLBACK_ALLOW_NETWORKS: "${entry.trim()}" is not an IP address or CIDR network`);
    }
    allowNetworks.push(network);
  }
  return { allowPrivate, allowNetworks };
}

/** The reason `address` may not be reached under `policy`, or null when it may. */
export function refusalReason(address: string, policy: OutboundPolicy): string | null {
  if (policy.allowPrivate || isInNetworks(address, policy.allowNetworks)) return null;
  const classification = classifyAddress(address);
  return classification.public ? null : classification.reason;
}

const defaultLookup: HostLookup = async (hostname) => {
  // verbatim keeps the resolver's order, so the address dialled is the one the system prefers.
  const answers = await systemLookup(hostname, { all: true, verbatim: true });
  return answers.map((answer) => ({ address: answer.address, family: answer.family === 6 ? 6 : 4 }));
};

/**
 * A fetch for user-supplied URLs. The host is resolved once, every answer is checked, and the
 * socket is opened to the checked address itself, so a DNS answer that changes between the
 * check and the connect (rebinding) cannot redirect the request. Redirects are never followed:
 * a 3xx is returned as is, and its Location would need to pass this guard as a new request.
 */
export function createGuardedFetch(options: GuardedFetchOptions): GuardedFetch {
  const lookup = options.lookup ?? defaultLookup;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const urlName = options.urlName ?? "URL";
  const maxBodyBytes = options.maxBodyBytes ?? BODY_LIMIT_BYTES;
  const now = options.now ?? (() => performance.now());

  return async (urlText, init) => {
    const startedAt = now();
    const parsed = parseOutboundUrl(urlText);
    if (!parsed.ok) throw new OutboundRefusedError(`${urlName} ${parsed.reason}`);
    const target = parsed.target;

    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    const signal = init.signal === undefined ? timeout.signal : AbortSignal.any([init.signal, timeout.signal]);
    const describeFailure = (error: unknown): OutboundNetworkError => {
      if (timeout.signal.aborted) return new OutboundNetworkError(`timed out after ${timeoutMs} ms`, { cause: error });
      if (init.signal?.aborted === true) return new OutboundNetworkError("aborted", { cause: error });
      return new OutboundNetworkError(networkErrorReason(error), { cause: error });
    };

    try {
      const address = await checkedAddress(target, urlName, options.policy, lookup, signal, describeFailure);
      return await send(target, address, init, signal, timeoutMs, maxBodyBytes, startedAt, now).catch((error: unknown) => {
        throw describeFailure(error);
      });
    } finally {
      clearTimeout(timer);
    }
  };
}

async function checkedAddress(
  target: OutboundTarget,
  urlName: string,
  policy: OutboundPolicy,
  lookup: HostLookup,
  signal: AbortSignal,
  describeFailure: (error: unknown) => OutboundNetworkError,
): Promise<string> {
  if (target.literalAddress !== null) {
    const reason = refusalReason(target.literalAddress, policy);
    if (reason !== null) {
      throw new OutboundRefusedError(`${urlName} host ${target.literalAddress} is ${withArticle(reason)}`);
    }
    return target.literalAddress;
  }

  let answers: ResolvedAddress[];
  try {
    answers = await untilAborted(lookup(target.hostname), signal);
  } catch (error) {
    throw describeFailure(error);
  }
  // Every answer is checked, not only the first: a resolver or connection pool could pick any of them.
  for (const answer of answers) {
    if (isIP(answer.address) === 0) {
      throw new OutboundRefusedError(`${urlName} host ${target.hostname} resolves to "${answer.address}", not an IP address`);
    }
    const reason = refusalReason(answer.address, policy);
    if (reason !== null) {
      throw new OutboundRefusedError(
        `${urlName} host ${target.hostname} resolves to ${answer.address}, ${withArticle(reason)}`,
      );
    }
  }
  const [first] = answers;
  if (first === undefined) throw new OutboundNetworkError(`DNS lookup for ${target.hostname} returned no addresses`);
  return first.address;
}

async function send(
  target: OutboundTarget,
  address: string,
  init: GuardedRequest,
  signal: AbortSignal,
  timeoutMs: number,
  maxBodyBytes: number,
  startedAt: number,
  now: () => number,
): Promise<GuardedResponse> {
  const connect = buildConnector({ timeout: timeoutMs });
  // The client keeps the original origin, so the Host header and TLS server name stay the URL's
  // hostname (SNI and certificate validation use it); only the socket's destination is pinned.
  const client = new Client(target.url.origin, {
    connect: (connectOptions, callback) => {
      connect(
        { ...connectOptions, hostname: address, servername: target.serverName ?? undefined },
        callback,
      );
    },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  try {
    const response = await client.request({
      path: `${target.url.pathname}${target.url.search}`,
      method: init.method,
      headers: withoutHostHeader(init.headers),
      body: init.body,
      signal,
    });
    const body = await readLimited(response.body, maxBodyBytes);
    let text: string | undefined;
    return {
      status: response.statusCode,
      headers: toHeaders(response.headers),
      // Decoded when read: an image downloaded through here is never wanted as text.
      get bodyText() {
        text ??= new TextDecoder().decode(body.bytes);
        return text;
      },
      bodyBytes: body.bytes,
      bodyTruncated: body.truncated,
      durationMs: now() - startedAt,
      address,
    };
  } finally {
    // One client per request: the pinned address belongs to this request only, never to a pool.
    await client.destroy().catch(() => undefined);
  }
}

/** Host comes from the checked URL; a caller-supplied one would also steer undici's TLS server name. */
function withoutHostHeader(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== "host"));
}

async function readLimited(body: AsyncIterable<unknown>, limit: number): Promise<{ bytes: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  for await (const chunk of body) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    if (size + buffer.length > limit) {
      chunks.push(buffer.subarray(0, limit - size));
      truncated = true;
      // Leaving the loop destroys the stream, so the rest of an oversized body is never read.
      break;
    }
    chunks.push(buffer);
    size += buffer.length;
  }
  return { bytes: Buffer.concat(chunks), truncated };
}

function toHeaders(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  return headers;
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

const NETWORK_ERROR_REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connect timed out",
  UND_ERR_CONNECT_TIMEOUT: "connect timed out",
  UND_ERR_HEADERS_TIMEOUT: "timed out waiting for response headers",
  UND_ERR_BODY_TIMEOUT: "timed out reading the response body",
  UND_ERR_SOCKET: "connection closed by the server",
  ENOTFOUND: "DNS lookup failed",
  EAI_AGAIN: "DNS lookup failed",
  ENODATA: "DNS lookup failed",
  HPE_INVALID_CONSTANT: "invalid HTTP response",
};

function errorCode(error: unknown): string | null {
  let current: unknown = error;
  // undici wraps socket errors; the system code is usually one level down.
  for (let depth = 0; depth < 3 && typeof current === "object" && current !== null; depth += 1) {
    if ("code" in current && typeof current.code === "string") return current.code;
    current = "cause" in current ? current.cause : undefined;
  }
  return null;
}

function networkErrorReason(error: unknown): string {
  const code = errorCode(error);
  if (code === null) return "network error";
  const known = NETWORK_ERROR_REASONS[code];
  if (known !== undefined) return `${known} (${code})`;
  if (/^(?:ERR_TLS|ERR_SSL|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_|HOSTNAME_MISMATCH)/.test(code)) {
    return `TLS error (${code})`;
  }
  if (code.startsWith("HPE_")) return `invalid HTTP response (${code})`;
  return `network error (${code})`;
}
