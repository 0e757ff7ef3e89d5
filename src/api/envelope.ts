import type { FastifyReply } from "fastify";
import type { ErrorCode } from "../domain/errors.ts";

/** The one place a domain outcome becomes an HTTP status. */
export const STATUS_OF: Readonly<Record<ErrorCode, number>> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  INSUFFICIENT_CREDITS: 402,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  VALIDATION_FAILED: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  INSUFFICIENT_STORAGE: 507,
};

export interface Envelope<T> {
  code: number;
  msg: string;
  data: T | null;
}

/** The content type Fastify gives the JSON it serializes, for answers serialized ahead. */
export const JSON_CONTENT_TYPE = "application/json; charset=utf-8";

/** The envelope of a 200 answer. */
export function okEnvelope<T>(data: T): Envelope<T> {
  return { code: 200, msg: "success", data };
}

export function ok<T>(reply: FastifyReply, data: T): FastifyReply {
  return reply.code(200).send(okEnvelope(data));
}

export function fail(reply: FastifyReply, code: ErrorCode, message: string): FastifyReply {
  const status = STATUS_OF[code];
  return reply.code(status).send({ code: status, msg: message, data: null } satisfies Envelope<null>);
}

/** JSON schema of the envelope around `data`, for the OpenAPI document. */
export function envelopeSchema(data: object, description: string): object {
  return {
    description,
    type: "object",
    required: ["code", "msg", "data"],
    properties: { code: { type: "integer", example: 200 }, msg: { type: "string", example: "success" }, data },
  };
}

export const errorEnvelopeSchema = {
  description: "Error: `data` is null and `msg` says what to change.",
  type: "object",
  required: ["code", "msg", "data"],
  properties: { code: { type: "integer" }, msg: { type: "string" }, data: { type: "null" } },
};

/** The error envelope with what a status means on one route, for its OpenAPI response. */
export function errorResponseSchema(description: string): object {
  return { ...errorEnvelopeSchema, description };
}
