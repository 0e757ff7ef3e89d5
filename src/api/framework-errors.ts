import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Writable } from "node:stream";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { JSON_CONTENT_TYPE, type Envelope } from "./envelope.ts";

/** The answer to a request that never reached a route: its status and one plain sentence. */
interface Refusal {
  status: number;
  message: string;
}

const UNREADABLE_REQUEST: Refusal = { status: 400, message: "The request is not valid HTTP/1.1 and could not be read." };

/**
 * What Node's HTTP parser refuses, by its error code. A header section over Node's 16 KB limit is
 * answered 431 (Request Header Fields Too Large), the status Node itself gives it: a client can
 * tell that a header, not the body, is too large.
 */
const PARSER_REFUSALS: Readonly<Record<string, Refusal>> = {
  HPE_HEADER_OVERFLOW: { status: 431, message: "A request header is too large: headers may be at most 16 KB in all." },
  HPE_INVALID_TRANSFER_ENCODING: {
    status: 400,
    message: "The request's Transfer-Encoding is not valid: it must end in chunked and not come with Content-Length.",
  },
  HPE_INVALID_CONTENT_LENGTH: { status: 400, message: "The request's Content-Length header is not valid." },
  HPE_UNEXPECTED_CONTENT_LENGTH: { status: 400, message: "The request's Content-Length header is not valid." },
  HPE_INVALID_HEADER_TOKEN: {
    status: 400,
    message: "A request header has a character that is not allowed, or is folded onto a second line.",
  },
  HPE_CR_EXPECTED: { status: 400, message: "The request is not valid HTTP/1.1: each line must end with CR LF." },
  HPE_LF_EXPECTED: { status: 400, message: "The request is not valid HTTP/1.1: each line must end with CR LF." },
  HPE_INVALID_METHOD: { status: 400, message: "The request method is not valid." },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { status: 413, message: "A chunk extension of the request body is too large." },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, message: "The request was not received in full in time." },
};

const MISSING_HOST: Refusal = { status: 400, message: "The request has no Host header: HTTP/1.1 requires one." };
const UNMET_EXPECTATION: Refusal = {
  status: 417,
  message: "The request's Expect header cannot be met: the only expectation served is 100-continue.",
};

/** What Fastify's router refuses before any route or hook runs. */
const ROUTER_REFUSALS: Readonly<Record<string, Refusal>> = {
  FST_ERR_BAD_URL: { status: 400, message: "The request URL is not valid." },
  // A path segment is an account, key, task or delivery identifier, none of which is this long;
  // 414 says the request is at fault without telling an unauthenticated caller what exists.
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, message: "A path segment of the request URL is too long: each may be at most 100 characters." },
};

function envelopeText(refusal: Refusal): string {
  return JSON.stringify({ code: refusal.status, msg: refusal.message, data: null } satisfies Envelope<null>);
}

/**
 * Answers a request Fastify refuses before routing (a URL that does not decode, a path parameter
 * over its limit) in the envelope, with the request id every other answer carries.
 */
function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  let refusal = ROUTER_REFUSALS[error.code];
  if (refusal === undefined) {
    request.log.error({ err: error }, "request failed");
    refusal = { status: 500, message: `Internal server error (request id ${request.id})` };
  }
  void reply.code(refusal.status).header("X-Request-Id", request.id).type(JSON_CONTENT_TYPE).send(envelopeText(refusal));
}

/** The HTTP/1.1 answer written straight to a socket whose request Node's parser refused. */
function parserRefusalResponse(code: string, requestId: string): string {
  const refusal = PARSER_REFUSALS[code] ?? UNREADABLE_REQUEST;
  const body = envelopeText(refusal);
  return (
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ""}\r\n` +
    "Connection: close\r\n" +
    `Content-Type: ${JSON_CONTENT_TYPE}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    `X-Request-Id: ${requestId}\r\n` +
    `\r\n${body}`
  );
}

/**
 * Answers an HTTP/1.1 request without a Host header, which Node would otherwise refuse with an
 * empty 400 of its own (the server is made with `requireHostHeader: false` for this). Called from
 * the onRequest hook every request passes: true when it answered.
 */
export function refuseWithoutHost(request: FastifyRequest, reply: FastifyReply): boolean {
  const raw = request.raw;
  if (raw.headers.host !== undefined || raw.httpVersionMajor !== 1 || raw.httpVersionMinor === 0) return false;
  void reply.code(MISSING_HOST.status).header("Connection", "close").type(JSON_CONTENT_TYPE).send(envelopeText(MISSING_HOST));
  return true;
}

/**
 * Answers an `Expect` header other than `100-continue` (which Node serves itself) in the envelope:
 * without a `checkExpectation` listener Node answers an empty 417 of its own.
 */
export function answerUnmetExpectations(server: Server, nextRequestId: () => string): void {
  server.on("checkExpectation", (_request: IncomingMessage, response: ServerResponse) => {
    const body = envelopeText(UNMET_EXPECTATION);
    response.writeHead(UNMET_EXPECTATION.status, {
      "Content-Type": JSON_CONTENT_TYPE,
      "Content-Length": Buffer.byteLength(body),
      "X-Request-Id": nextRequestId(),
      Connection: "close",
    });
    response.end(body);
  });
}

/**
 * Fastify server options that give the envelope and an `X-Request-Id` to the answers no route
 * makes: Fastify's router refusals (`frameworkErrors`) and Node's parser refusals
 * (`clientErrorHandler`, which has no request, so the id is a new one).
 */
export function frameworkErrorOptions(nextRequestId: () => string): {
  http: { requireHostHeader: false };
  frameworkErrors: typeof answerFrameworkError;
  clientErrorHandler: (error: Error & { code?: string }, socket: Socket) => void;
} {
  // The parser reports its error again for every later chunk on the connection; one answer is enough.
  const refusedSockets = new WeakSet<Socket>();
  return {
    // A request without Host reaches the onRequest hook, which answers it (refuseWithoutHost).
    http: { requireHostHeader: false },
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: (error, socket) => {
      // A reset connection has nobody left to answer.
      if (error.code === "ECONNRESET" || socket.destroyed || refusedSockets.has(socket)) return;
      refusedSockets.add(socket);
      const response = parserRefusalResponse(error.code ?? "", nextRequestId());
      afterAnswersInFlight(socket, () => {
        if (!socket.writable) {
          socket.destroy();
          return;
        }
        // The whole answer is written before the socket is closed: destroying it at once may drop it.
        socket.end(response, () => socket.destroy());
      });
    },
  };
}

/** Node's http server keeps the answer it is writing on a socket here (`null` between answers). */
type HttpSocket = Socket & { _httpMessage?: Writable | null };

/**
 * Runs `then` once no answer is being written on the socket. Requests pipelined ahead of the
 * malformed one are still being answered when the parser fails; writing the refusal at once would
 * land in the middle of their answers, or be read by the client as the answer to the first one.
 */
function afterAnswersInFlight(socket: HttpSocket, then: () => void): void {
  if (socket.destroyed) return;
  const current = socket._httpMessage;
  // The server lets go of an answer in its first 'finish' listener, so one still held here has not
  // finished, even when its bytes are all written: requests queued behind it are not answered yet.
  if (current === undefined || current === null) {
    then();
    return;
  }
  const next = (): void => {
    current.off("finish", next);
    current.off("close", next);
    afterAnswersInFlight(socket, then);
  };
  current.once("finish", next);
  current.once("close", next);
}
