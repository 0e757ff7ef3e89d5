import { isUtf8 } from "node:buffer";
import type { FastifyInstance } from "fastify";
import { failure, success, type Result } from "../domain/errors.ts";

export const BODY_LIMIT_BYTES = 1024 * 1024;

/** Marks a body that is not JSON; the route answers 400 after authentication has run. */
export const INVALID_JSON: unique symbol = Symbol("invalid JSON body");

/** Marks a body that is not valid UTF-8, which decoding would silently repair; answered 400 like INVALID_JSON. */
export const INVALID_UTF8: unique symbol = Symbol("invalid UTF-8 body");

export type JsonObject = Record<string, unknown>;

/**
 * Every body is read and parsed here, so that a body which is not JSON, or has no JSON content
 * type, is answered 400 by the route after authentication rather than 415 before it. The bytes are
 * checked before they are decoded: decoding alone would replace invalid UTF-8 with U+FFFD, and a
 * task's `param` would no longer be what the client sent.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => {
    // parseAs "buffer" hands a Buffer; the type also allows the text parseAs "string" would give.
    if (typeof body !== "string" && !isUtf8(body)) {
      done(null, INVALID_UTF8);
      return;
    }
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.trim() === "") {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch {
      done(null, INVALID_JSON);
    }
  });
}

export interface BodyRules {
  /** The 400's message when the body is not a JSON object (or is absent and `optional` is not set). */
  requirement: string;
  /** An absent body reads as `{}`: routes whose fields are all optional. */
  optional?: boolean;
  /** The only fields accepted; any other is answered 422 naming it. */
  allowed?: readonly string[];
}

/** The parsed body as a JSON object, or the 400 (422 for an unknown field) that names what is wrong. */
export function jsonObjectBody(body: unknown, rules: BodyRules): Result<JsonObject> {
  if (body === INVALID_JSON) return failure("BAD_REQUEST", "The request body is not valid JSON.");
  if (body === INVALID_UTF8) return failure("BAD_REQUEST", "The request body is not valid UTF-8.");
  const object = body === undefined && rules.optional === true ? {} : body;
  if (typeof object !== "object" || object === null || Array.isArray(object)) return failure("BAD_REQUEST", rules.requirement);
  if (rules.allowed !== undefined) {
    const allowed = rules.allowed;
    const unknown = Object.keys(object).find((field) => !allowed.includes(field));
    if (unknown !== undefined) {
      return failure("VALIDATION_FAILED", `${unknown} is not a known field; the accepted fields are ${allowed.join(", ")}`);
    }
  }
  return success(object as JsonObject);
}
