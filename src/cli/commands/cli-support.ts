import type { Failure } from "../../domain/errors.ts";
import type { AdminSession } from "../admin.ts";
import type { Terminal } from "../generate.ts";

/** A usage or domain error: printed as one line `imagegate: <message>`, exit code 1. */
export class CliFailure extends Error {}

/** Runs `work` on the database of DATA_DIR, closing it afterwards. */
export type WithAdmin = (work: (session: AdminSession) => Promise<void>) => Promise<void>;

/** What every command group is registered with. */
export interface CommandTools {
  withAdmin: WithAdmin;
  terminal: Terminal;
}

export function unwrap<T>(result: { ok: true; value: T } | Failure): T {
  if (!result.ok) throw new CliFailure(result.message);
  return result.value;
}

export function formatTime(epochMs: number | null): string {
  return epochMs === null ? "-" : new Date(epochMs).toISOString();
}

/** A whole number from `minimum` to `maximum`, or a failure naming `name`. */
export function wholeNumber(name: string, text: string, minimum: number, maximum: number): number {
  const value = /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= minimum && value <= maximum)) {
    throw new CliFailure(`${name} must be a whole number from ${minimum} to ${maximum}, got "${text}"`);
  }
  return value;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

/** ISO-8601 text or epoch milliseconds, as epoch milliseconds. */
export function parseTime(name: string, text: string): number {
  if (/^\d{1,15}$/.test(text)) return Number(text);
  const parsed = ISO_DATE.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(parsed)) {
    throw new CliFailure(`${name} must be an ISO-8601 time such as 2026-05-01T00:00:00Z or epoch milliseconds, got "${text}"`);
  }
  return parsed;
}

/** The optional --since (inclusive) and --until (exclusive) bounds. */
export function timeRange(options: { since?: string; until?: string }): { since?: number; until?: number } {
  const range = {
    ...(options.since === undefined ? {} : { since: parseTime("--since", options.since) }),
    ...(options.until === undefined ? {} : { until: parseTime("--until", options.until) }),
  };
  if (range.since !== undefined && range.until !== undefined && range.until <= range.since) {
    throw new CliFailure(`--until must be later than --since, got ${options.since} to ${options.until}`);
  }
  return range;
}

/** The account's id, or a failure when no account has this name or id. */
export async function accountIdOf(session: AdminSession, nameOrId: string | undefined): Promise<string | undefined> {
  if (nameOrId === undefined) return undefined;
  return unwrap(await session.accounts.requireAccount(nameOrId)).id;
}

/** Columns padded to their widest cell; `numeric` columns are aligned right. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], numeric: readonly number[] = []): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => (numeric.includes(column) ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
