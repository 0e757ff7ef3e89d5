/**
 * The closed set of outcomes a caller can be told about. The API maps each one to an HTTP status
 * in one place (src/api/envelope.ts); nothing else chooses a status.
 */
export type ErrorCode =
  | "BAD_REQUEST"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "INSUFFICIENT_CREDITS"
  | "NOT_FOUND"
  | "CONFLICT"
  | "PAYLOAD_TOO_LARGE"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "VALIDATION_FAILED"
  | "RATE_LIMITED"
  | "INTERNAL"
  | "INSUFFICIENT_STORAGE";

export interface Failure {
  ok: false;
  code: ErrorCode;
  /** One plain sentence a user can act on; names the field where one is at fault. */
  message: string;
}

export type Result<T> = { ok: true; value: T } | Failure;

export function failure(code: ErrorCode, message: string): Failure {
  return { ok: false, code, message };
}

export function success<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

/** Thrown for a failure that should reach the caller from deep inside a request handler. */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "DomainError";
  }
}
