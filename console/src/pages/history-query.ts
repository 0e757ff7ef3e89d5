// What the History page shows, as kept in the URL's fragment (#/history?state=fail&model=...&cursor=...):
// the filters and where in the list the page is, so a reload, a shared link and Back all land on
// the same page. Paging is by the server's opaque cursors: `cursor` opens the page shown, `back`
// holds the cursors of the pages before it (the first page has none), so "Newer" can return.

import { TASK_STATES, type TaskState } from "../types.ts";

/** Tasks per page of the History list. */
export const PAGE_SIZE = 24;

/** How often the list is read again while a task on it is still running. */
export const REFRESH_INTERVAL_MS = 3000;

/** The states of a task that has not ended yet. */
export const ACTIVE_STATES: readonly TaskState[] = ["waiting", "queuing", "generating"];

export function isActive(state: string): boolean {
  return (ACTIVE_STATES as readonly string[]).includes(state);
}

export interface HistoryQuery {
  state: string;
  model: string;
  /** The cursor that opens the page shown; "" on the first page. */
  cursor: string;
  /** The cursors of the pages before this one, oldest first; the first page needs none. */
  back: string[];
}

// Cursors are base64url text, which never holds a comma.
const SEPARATOR = ",";

export function readHistoryQuery(params: URLSearchParams): HistoryQuery {
  const cursor = params.get("cursor") ?? "";
  const back = (params.get("back") ?? "").split(SEPARATOR).filter((part) => part !== "");
  return { state: params.get("state") ?? "", model: params.get("model") ?? "", cursor, back: cursor === "" ? [] : back };
}

/** The fragment's query for `query` (for href("/history", ...)). */
export function historyParams(query: HistoryQuery): Record<string, string> {
  const params: Record<string, string> = {};
  if (query.state !== "") params.state = query.state;
  if (query.model !== "") params.model = query.model;
  if (query.cursor !== "") params.cursor = query.cursor;
  if (query.cursor !== "" && query.back.length > 0) params.back = query.back.join(SEPARATOR);
  return params;
}

/** The API's query for the page shown. */
export function listParams(query: HistoryQuery): Record<string, string | number> {
  return { state: query.state, model: query.model, limit: PAGE_SIZE, cursor: query.cursor };
}

/** The same filters, on the first page. */
export function withFilters(query: HistoryQuery, filters: { state?: string; model?: string }): HistoryQuery {
  return { state: filters.state ?? query.state, model: filters.model ?? query.model, cursor: "", back: [] };
}

/** The next page: older tasks, opened by the answer's nextCursor. */
export function olderPage(query: HistoryQuery, nextCursor: string): HistoryQuery {
  return { ...query, cursor: nextCursor, back: query.cursor === "" ? [] : [...query.back, query.cursor] };
}

/** The page before: newer tasks. */
export function newerPage(query: HistoryQuery): HistoryQuery {
  const back = query.back.slice(0, -1);
  return { ...query, cursor: query.back.at(-1) ?? "", back };
}

/** 1 for the first page. */
export function pageNumber(query: HistoryQuery): number {
  return query.cursor === "" ? 1 : query.back.length + 2;
}

export function isKnownState(state: string): state is TaskState {
  return (TASK_STATES as readonly string[]).includes(state);
}
