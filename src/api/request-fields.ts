import type { FastifyRequest } from "fastify";
import type { Caller } from "../domain/accounts/account.ts";
import { DomainError, failure, success, type Result } from "../domain/errors.ts";

/** The authenticated caller; the authentication hook has already answered 401 when there is none. */
export function callerOf(request: FastifyRequest): Caller {
  if (request.caller === null) throw new DomainError("UNAUTHORIZED", "Authentication failed.");
  return request.caller;
}

/** `taskId` from the query string: recordInfo's and streamInfo's rule. */
export function taskIdFromQuery(request: FastifyRequest): Result<string> {
  const taskId = (request.query as Record<string, unknown>).taskId;
  // The query parser gives a repeated parameter as an array: asking for two tasks is not asking for none.
  if (Array.isArray(taskId)) return failure("BAD_REQUEST", "taskId must be given once: one task per request.");
  if (typeof taskId !== "string" || taskId.trim() === "") {
    return failure("BAD_REQUEST", "taskId is required as a query parameter.");
  }
  return success(taskId);
}
