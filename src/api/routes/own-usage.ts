import type { FastifyInstance } from "fastify";
import { failure, success, type Result } from "../../domain/errors.ts";
import { ownUsageView } from "../../views/account-views.ts";
import { ledgerView } from "../../views/operator-views.ts";
import { ledgerEntrySchema } from "../admin/admin-route.ts";
import type { ApiContext } from "../context.ts";
import { fail, ok } from "../envelope.ts";
import { pageOf, pageQueryProperties, pageSchema, readPageRequest } from "../paging.ts";
import { readTimeRange } from "../request-values.ts";
import { usageDayProperties } from "../usage-schema.ts";
import { callerOf } from "../request-fields.ts";
import { accountRoute } from "./account-route.ts";

const DAY_MS = 86_400_000;
const DEFAULT_USAGE_DAYS = 30;
/**
 * The longest window one usage request sums: its cost grows with the tasks in the window (every
 * one is read), so a window is bounded rather than every task the account ever made.
 */
export const MAX_USAGE_DAYS = 92;
const LEDGER = "ledger";

const usageDaySchema = {
  type: "object",
  required: ["day", "tasks", "creditsSpent", "models"],
  properties: usageDayProperties,
};

const timeDescription = "ISO-8601 (2026-05-01 or 2026-05-01T00:00:00Z) or epoch ms";

/** The window of a usage request: `to` defaults to now and `from` to 30 days before `to`. */
function readWindow(query: unknown, now: number): Result<{ from: number; to: number }> {
  const range = readTimeRange(query, ["from", "to"]);
  if (!range.ok) return range;
  const to = range.value.until ?? now;
  const from = range.value.since ?? to - DEFAULT_USAGE_DAYS * DAY_MS;
  if (to <= from) return failure("VALIDATION_FAILED", "to must be later than from");
  if (to - from > MAX_USAGE_DAYS * DAY_MS) return failure("VALIDATION_FAILED", `to must be at most ${MAX_USAGE_DAYS} days after from`);
  return success({ from, to });
}

export function registerOwnUsage(api: FastifyInstance, context: ApiContext): void {
  api.get(
    "/usage",
    accountRoute({
      operationId: "getUsage",
      summary: "The account's tasks and credits per day, by model",
      description: `Per UTC day of creation within [from, to): tasks in each state and credits spent, in all and per model. Days without tasks are left out. The window is at most ${MAX_USAGE_DAYS} days.`,
      tag: "account",
      querystring: {
        type: "object",
        properties: {
          from: { type: "string", description: `Inclusive; ${timeDescription}. Default: ${DEFAULT_USAGE_DAYS} days before to.` },
          to: { type: "string", description: `Exclusive; ${timeDescription}. Default: now.` },
        },
      },
      data: {
        type: "object",
        required: ["from", "to", "days"],
        properties: {
          from: { type: "number", description: "The window's start as applied, epoch ms." },
          to: { type: "number", description: "The window's end as applied, epoch ms." },
          days: { type: "array", items: usageDaySchema, description: "Oldest day first." },
        },
      },
      errors: {
        400: "from or to is given more than once.",
        422: `from or to is not a time, to is not later than from, or the window is over ${MAX_USAGE_DAYS} days; msg names it.`,
      },
    }),
    async (request, reply) => {
      const window = readWindow(request.query, context.clock.now());
      if (!window.ok) return fail(reply, window.code, window.message);
      const { from, to } = window.value;
      const rows = await context.reports.usage({ accountId: callerOf(request).accountId, since: from, until: to });
      return ok(reply, { from, to, days: rows.map(ownUsageView) });
    },
  );

  api.get(
    "/ledger",
    accountRoute({
      operationId: "listLedger",
      summary: "The account's credit ledger, newest first",
      description:
        "Every movement of the balance: grants and deductions by the operator, and each task's hold, capture (its charge becoming final) and release. Paged like GET /api/v1/jobs.",
      tag: "account",
      querystring: { type: "object", properties: { ...pageQueryProperties } },
      data: pageSchema(ledgerEntrySchema, "The entries, newest first."),
      errors: { 400: "A parameter is given more than once.", 422: "limit or cursor is not one of the values accepted; msg names it." },
    }),
    async (request, reply) => {
      const page = readPageRequest(request.query, LEDGER, (key) => /^[1-9]\d{0,14}$/.test(key));
      if (!page.ok) return fail(reply, page.code, page.message);
      const caller = callerOf(request);
      const before = page.value.after === undefined ? undefined : Number(page.value.after);
      const entries = await context.accounts.ownLedger(caller, page.value.limit + 1, before);
      return ok(reply, pageOf(entries, page.value, LEDGER, (entry) => String(entry.id), ledgerView));
    },
  );
}
