import type { AccountService } from "../domain/accounts/account-service.ts";
import { failure, success, type Result } from "../domain/errors.ts";
import { jsonObjectBody, type JsonObject } from "./json-body.ts";

export type { JsonObject };

/** The body as a JSON object holding only `allowed` fields; an absent body reads as `{}`. */
export function readBody(body: unknown, allowed: readonly string[]): Result<JsonObject> {
  return jsonObjectBody(body, { requirement: "The request body must be a JSON object.", optional: true, allowed });
}

/** A query parameter given at most once; undefined when absent or empty. */
export function queryText(query: unknown, name: string): Result<string | undefined> {
  const value = typeof query === "object" && query !== null ? (query as JsonObject)[name] : undefined;
  if (value === undefined || value === "") return success(undefined);
  if (typeof value !== "string") return failure("BAD_REQUEST", `${name} must be given at most once.`);
  return success(value);
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

/** A time as ISO-8601 text or epoch milliseconds, as epoch milliseconds. */
export function parseTime(name: string, text: string): Result<number> {
  if (/^\d{1,15}$/.test(text)) return success(Number(text));
  const parsed = ISO_DATE.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(parsed)) {
    return failure("VALIDATION_FAILED", `${name} must be an ISO-8601 time such as 2026-05-01T00:00:00Z or epoch milliseconds`);
  }
  return success(parsed);
}

/** A whole number from 1 to `maximum`, or `fallback` when absent. */
export function parseCount(name: string, text: string | undefined, fallback: number, maximum: number): Result<number> {
  if (text === undefined) return success(fallback);
  const value = /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 1 && value <= maximum)) {
    return failure("VALIDATION_FAILED", `${name} must be a whole number from 1 to ${maximum}`);
  }
  return success(value);
}

/**
 * The optional time bounds of a query, the first inclusive and the second exclusive, named `since`
 * and `until` unless `names` says otherwise.
 */
export function readTimeRange(query: unknown, names: readonly [string, string] = ["since", "until"]): Result<{ since?: number; until?: number }> {
  const range: { since?: number; until?: number } = {};
  for (const [bound, name] of [["since", names[0]], ["until", names[1]]] as const) {
    const text = queryText(query, name);
    if (!text.ok) return text;
    if (text.value === undefined) continue;
    const time = parseTime(name, text.value);
    if (!time.ok) return time;
    range[bound] = time.value;
  }
  if (range.since !== undefined && range.until !== undefined && range.until <= range.since) {
    return failure("VALIDATION_FAILED", `${names[1]} must be later than ${names[0]}`);
  }
  return success(range);
}

/** The `account` query parameter (a name or an id) as an account id; undefined when absent. */
export async function accountIdFromQuery(query: unknown, accounts: AccountService): Promise<Result<string | undefined>> {
  const text = queryText(query, "account");
  if (!text.ok) return text;
  if (text.value === undefined) return success(undefined);
  const account = await accounts.requireAccount(text.value);
  return account.ok ? success(account.value.id) : account;
}
