import { createHash, timingSafeEqual } from "node:crypto";
import { parseArgs } from "node:util";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/*
 * What both do-it-yourself peers share: the createTask body's validation for imagegate's default
 * model, written the way a careful operator writes it in Fastify (a JSON schema, plus the checks a
 * schema cannot say), the bearer key's check, the envelope of every answer, and the options.
 */

export const MODEL = "nano-banana-text-to-image";
const RATIOS = ["1:1", "9:16", "16:9", "3:4", "4:3", "3:2", "2:3", "5:4", "4:5", "21:9", "auto"];
const PROMPT_MAX = 20_000;
const CALLBACK_URL_MAX = 2048;

export const createTaskSchema = {
  body: {
    type: "object",
    required: ["model", "input"],
    properties: {
      model: { type: "string", const: MODEL },
      input: {
        type: "object",
        required: ["prompt"],
        additionalProperties: false,
        properties: {
          prompt: { type: "string", minLength: 1, maxLength: PROMPT_MAX },
          image_size: { type: "string", enum: RATIOS },
          aspect_ratio: { type: "string", enum: RATIOS },
          output_format: { type: "string", enum: ["png", "jpeg"] },
        },
      },
      callBackUrl: { type: ["string", "null"], maxLength: CALLBACK_URL_MAX },
    },
  },
} as const;

export const recordInfoSchema = {
  querystring: { type: "object", required: ["taskId"], properties: { taskId: { type: "string", minLength: 1, maxLength: 64 } } },
} as const;

export interface CreateTaskBody {
  model: string;
  input: { prompt: string; image_size?: string; aspect_ratio?: string; output_format?: string };
  callBackUrl?: string | null;
}

/** What the schema cannot say: a prompt of spaces, a callback URL that is not absolute http(s). Null when valid. */
export function invalidBody(body: CreateTaskBody): string | null {
  if (body.input.prompt.trim() === "") return "input.prompt must not be empty or only whitespace";
  const callback = body.callBackUrl;
  if (callback === undefined || callback === null || callback === "") return null;
  try {
    const url = new URL(callback);
    if ((url.protocol === "http:" || url.protocol === "https:") && url.username === "" && url.password === "") return null;
  } catch {
    // Not a URL at all.
  }
  return "callBackUrl must be an absolute http or https URL";
}

/** The callback URL to store: null for none. */
export function callbackUrlOf(body: CreateTaskBody): string | null {
  return body.callBackUrl === undefined || body.callBackUrl === "" ? null : body.callBackUrl;
}

export function fail(reply: FastifyReply, status: number, msg: string): FastifyReply {
  return reply.code(status).send({ code: status, msg, data: null });
}

/** A record as imagegate's recordInfo shows one, from what a peer stored. */
export function taskRecord(task: { id: string; model: string; state: string; param: string; createTime: number; updateTime: number }) {
  return {
    taskId: task.id,
    model: task.model,
    state: task.state,
    param: task.param,
    resultJson: null,
    failCode: null,
    failMsg: null,
    costTime: null,
    completeTime: null,
    createTime: task.createTime,
    updateTime: task.updateTime,
    creditsConsumed: 0,
  };
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function hashKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** The SHA-256 of the request's bearer key, or null without one. */
export function bearerKeyHash(request: FastifyRequest): string | null {
  const match = BEARER.exec(request.headers.authorization ?? "");
  return match?.[1] === undefined ? null : hashKey(match[1]);
}

export function sameHash(left: string, right: string): boolean {
  return left.length === right.length && timingSafeEqual(Buffer.from(left), Buffer.from(right));
}

/**
 * Every answer in the envelope: schema failures as 400 (malformed JSON) or 422 (a field), other
 * faults as 500. `authenticate` answers the account id of the request's key, or null for a 401.
 */
export function envelopeAndAuthentication(app: FastifyInstance, authenticate: (keyHash: string) => Promise<string | null>): void {
  app.decorateRequest("accountId", "");
  app.addHook("onRequest", async (request, reply) => {
    const keyHash = bearerKeyHash(request);
    const accountId = keyHash === null ? null : await authenticate(keyHash);
    if (accountId === null) return fail(reply, 401, "Authentication failed: the API key is missing, unknown or revoked.");
    request.accountId = accountId;
  });
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    if (error.validation !== undefined) return fail(reply, 422, error.message);
    if (error.statusCode !== undefined && error.statusCode < 500) return fail(reply, 400, error.message);
    return fail(reply, 500, "Internal error.");
  });
}

declare module "fastify" {
  interface FastifyRequest {
    accountId: string;
  }
}

export interface PeerOptions {
  port: number;
  /** The one API key the peer accepts. */
  apiKey: string;
  /** Names the peer's tables or keys, so that peers sharing a server keep apart. */
  prefix: string;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
}

const PREFIX = /^[a-z_][a-z0-9_]{0,40}$/;

/** --port, --api-key, --prefix, --database-url, --redis-url, each else from PORT, PEER_API_KEY, PEER_PREFIX, DATABASE_URL, REDIS_URL. */
export function peerOptions(): PeerOptions {
  const { values } = parseArgs({
    options: {
      port: { type: "string" },
      "api-key": { type: "string" },
      prefix: { type: "string" },
      "database-url": { type: "string" },
      "redis-url": { type: "string" },
    },
  });
  const environment = process.env;
  const apiKey = values["api-key"] ?? environment.PEER_API_KEY;
  if (apiKey === undefined || apiKey === "") throw new Error("no API key: pass --api-key or set PEER_API_KEY");
  const prefix = values.prefix ?? environment.PEER_PREFIX ?? "peer";
  if (!PREFIX.test(prefix)) throw new Error(`the prefix ${prefix} is not a lower-case SQL identifier`);
  return {
    port: Number(values.port ?? environment.PORT ?? 0),
    apiKey,
    prefix,
    databaseUrl: values["database-url"] ?? environment.DATABASE_URL,
    redisUrl: values["redis-url"] ?? environment.REDIS_URL,
  };
}

/** Closes the server and `resources` on SIGTERM or SIGINT, then exits. */
export function stopOnSignals(app: FastifyInstance, resources: () => Promise<void>): void {
  const stop = (): void => {
    app
      .close()
      .then(resources)
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}
