import type { FastifyInstance } from "fastify";
import type { AccountLimits } from "../../domain/accounts/account.ts";
import { failure, success, type Result } from "../../domain/errors.ts";
import type { ApiContext } from "../context.ts";
import { fail, ok } from "../envelope.ts";
import { accountParams, accountSchema, adminRoute, limitsSchema } from "./admin-route.ts";
import { readBody, type JsonObject } from "../request-values.ts";

const LIMIT_FIELDS = ["activeTasks", "createTask", "other"] as const;

/** The fields given, each a value or null (back to the server's default); types only: the domain checks values. */
function readLimits(body: JsonObject): Result<Partial<AccountLimits>> {
  const limits: Partial<AccountLimits> = {};
  for (const field of LIMIT_FIELDS) {
    const value = body[field];
    if (value === undefined) continue;
    if (field === "activeTasks") {
      if (value !== null && typeof value !== "number") return failure("BAD_REQUEST", "activeTasks must be a number or null.");
      limits.activeTasks = value;
    } else {
      if (value !== null && typeof value !== "string") return failure("BAD_REQUEST", `${field} must be a string such as 20/10s, or null.`);
      limits[field] = value;
    }
  }
  if (Object.keys(limits).length === 0) {
    return failure("VALIDATION_FAILED", `give at least one of ${LIMIT_FIELDS.join(", ")}`);
  }
  return success(limits);
}

export function registerLimitsRoutes(admin: FastifyInstance, context: ApiContext): void {
  admin.put<{ Params: { account: string } }>(
    "/accounts/:account/limits",
    adminRoute({
      operationId: "adminSetLimits",
      summary: "Set an account's limits",
      description: "Only the fields given change; null puts a limit back to the server's default. Applies to the next request.",
      params: accountParams,
      body: limitsSchema,
      data: accountSchema,
      errors: [400, 404, 422],
    }),
    async (request, reply) => {
      const body = readBody(request.body, LIMIT_FIELDS);
      if (!body.ok) return fail(reply, body.code, body.message);
      const limits = readLimits(body.value);
      if (!limits.ok) return fail(reply, limits.code, limits.message);
      const updated = await context.accounts.setLimits(request.params.account, limits.value, "admin-api");
      if (!updated.ok) return fail(reply, updated.code, updated.message);
      return ok(reply, updated.value);
    },
  );
}
