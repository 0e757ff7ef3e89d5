import type { FastifyInstance } from "fastify";
import type { ApiContext } from "../context.ts";
import { fail, ok } from "../envelope.ts";
import { usageDayProperties } from "../usage-schema.ts";
import { adminRoute } from "./admin-route.ts";
import { accountIdFromQuery, parseCount, queryText, readTimeRange } from "../request-values.ts";

const DEFAULT_AUDIT_ENTRIES = 100;
const MAX_AUDIT_ENTRIES = 1000;

const usageRowSchema = {
  type: "object",
  properties: { ...usageDayProperties, accountId: { type: "string" }, accountName: { type: "string" } },
};

const auditEntrySchema = {
  type: "object",
  properties: {
    at: { type: "number", description: "Epoch ms." },
    actor: {
      type: "string",
      example: "admin-api",
      description: "cli, admin-api, or the id (key_...) of the account's own key that made the change through /api/v1.",
    },
    action: { type: "string", example: "credits.grant" },
    target: { type: "string", description: "The account or key changed." },
    details: { type: "object", additionalProperties: true },
  },
};

export function registerUsageRoutes(admin: FastifyInstance, context: ApiContext): void {
  admin.get(
    "/usage",
    adminRoute({
      operationId: "adminGetUsage",
      summary: "Tasks by state and credits spent, per UTC day and account",
      querystring: {
        type: "object",
        properties: {
          account: { type: "string", description: "Account name or id." },
          since: { type: "string", description: "Inclusive; ISO-8601 or epoch ms." },
          until: { type: "string", description: "Exclusive; ISO-8601 or epoch ms." },
        },
      },
      data: { type: "array", items: usageRowSchema },
      errors: [400, 404, 422],
    }),
    async (request, reply) => {
      const account = await accountIdFromQuery(request.query, context.accounts);
      if (!account.ok) return fail(reply, account.code, account.message);
      const accountId = account.value;
      const range = readTimeRange(request.query);
      if (!range.ok) return fail(reply, range.code, range.message);
      return ok(reply, await context.reports.usage({ ...range.value, ...(accountId === undefined ? {} : { accountId }) }));
    },
  );

  admin.get(
    "/audit",
    adminRoute({
      operationId: "adminListAudit",
      summary: "The audit trail of administrative changes, newest first",
      querystring: {
        type: "object",
        properties: { limit: { type: "integer", minimum: 1, maximum: MAX_AUDIT_ENTRIES, default: DEFAULT_AUDIT_ENTRIES } },
      },
      data: { type: "array", items: auditEntrySchema },
      errors: [400, 422],
    }),
    async (request, reply) => {
      const limitText = queryText(request.query, "limit");
      if (!limitText.ok) return fail(reply, limitText.code, limitText.message);
      const limit = parseCount("limit", limitText.value, DEFAULT_AUDIT_ENTRIES, MAX_AUDIT_ENTRIES);
      if (!limit.ok) return fail(reply, limit.code, limit.message);
      return ok(reply, await context.accounts.listAudit(limit.value));
    },
  );
}
