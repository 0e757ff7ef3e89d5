import { failure, success, type Result } from "../domain/errors.ts";
import { parseCount, queryText } from "./request-values.ts";

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** One page of a list, newest first: `nextCursor` asks for the page after it, null at the end. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** What a paged route reads from its query: how many items, and after which one. */
export interface PageRequest {
  limit: number;
  /** The key of the last item of the page before; undefined for the first page. */
  after: string | undefined;
}

/**
 * Cursors are opaque to clients, so what they hold can change without breaking one: today the
 * list's name and the key of the last item answered, in base64url. The name keeps a cursor of one
 * list from being taken by another.
 */
export function encodeCursor(list: string, key: string): string {
  return Buffer.from(`${list}:${key}`, "utf8").toString("base64url");
}

/** `limit` (1 to 100, default 20) and `cursor` (a nextCursor of the same list) from a query. */
export function readPageRequest(query: unknown, list: string, validKey: (key: string) => boolean): Result<PageRequest> {
  const limitText = queryText(query, "limit");
  if (!limitText.ok) return limitText;
  const limit = parseCount("limit", limitText.value, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  if (!limit.ok) return limit;
  const cursor = queryText(query, "cursor");
  if (!cursor.ok) return cursor;
  if (cursor.value === undefined) return success({ limit: limit.value, after: undefined });
  const decoded = /^[A-Za-z0-9_-]{1,200}$/.test(cursor.value) ? Buffer.from(cursor.value, "base64url").toString("utf8") : "";
  const key = decoded.startsWith(`${list}:`) ? decoded.slice(list.length + 1) : "";
  if (!validKey(key)) return failure("VALIDATION_FAILED", "cursor must be a nextCursor this list answered, as it was given");
  return success({ limit: limit.value, after: key });
}

/**
 * The page of `rows`, which were read with a limit one above the page's so that a last full page
 * is known to be the last without asking for an empty one after it.
 */
export function pageOf<Row, Item>(
  rows: readonly Row[],
  request: PageRequest,
  list: string,
  keyOf: (row: Row) => string,
  view: (row: Row) => Item,
): Page<Item> {
  const shown = rows.slice(0, request.limit);
  const last = shown.at(-1);
  return {
    items: shown.map(view),
    nextCursor: rows.length > request.limit && last !== undefined ? encodeCursor(list, keyOf(last)) : null,
  };
}

/** JSON schema of a page whose items are `item`. */
export function pageSchema(item: object, description: string): object {
  return {
    type: "object",
    required: ["items", "nextCursor"],
    properties: {
      items: { type: "array", items: item, description },
      nextCursor: {
        type: ["string", "null"],
        description: "Pass as `cursor` for the next page; null when this page is the last. Opaque: use it as given.",
      },
    },
  };
}

/** The query parameters of a paged route, for its schema. */
export const pageQueryProperties = {
  limit: { type: "integer", minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE, description: "Items per page." },
  cursor: { type: "string", description: "The nextCursor of the page before; absent for the first page." },
};
