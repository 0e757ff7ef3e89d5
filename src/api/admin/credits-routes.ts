import type { FastifyInstance } from "fastify";
import type { ApiContext } from "../context.ts";
import { fail, ok } from "../envelope.ts";
import { accountParams, adminRoute } from "./admin-route.ts";
import { readBody } from "../request-values.ts";

const creditChangeBody = {
  type: "object",
  required: ["amount", "reason"],
  properties: {
    amount: { type: "integer", minimum: 1, maximum: 1_000_000_000 },
    reason: { type: "string", minLength: 1, description: "Written to the ledger and the audit trail." },
  },
};

const balanceData = {
  type: "object",
  properties: { accountId: { type: "string" }, account: { type: "string" }, amount: { type: "number" }, balance: { type: "number" } },
};

export function registerCreditsRoutes(admin: FastifyInstance, context: ApiContext): void {
  for (const kind of ["grant", "deduct"] as const) {
    admin.post<{ Params: { account: string } }>(
      `/accounts/:account/credits/${kind}`,
      adminRoute({
        operationId: kind === "grant" ? "adminGrantCredits" : "adminDeductCredits",
        summary: kind === "grant" ? "Grant credits to an account" : "Deduct credits from an account",
        description: kind === "deduct" ? "Refused with 409 when the balance would go below zero; nothing changes then." : undefined,
        params: accountParams,
        body: creditChangeBody,
        data: balanceData,
        errors: kind === "deduct" ? [400, 404, 409, 422] : [400, 404, 422],
      }),
      async (request, reply) => {
        const body = readBody(request.body, ["amount", "reason"]);
        if (!body.ok) return fail(reply, body.code, body.message);
        const { amount, reason } = body.value;
        if (typeof amount !== "number") return fail(reply, "BAD_REQUEST", "amount is required and must be a number.");
        if (typeof reason !== "string") return fail(reply, "BAD_REQUEST", "reason is required and must be a string.");
        const account = await context.accounts.requireAccount(request.params.account);
        if (!account.ok) return fail(reply, account.code, account.message);
        const balance =
          kind === "grant"
            ? await context.accounts.grantCredits(account.value.id, amount, reason, "admin-api")
            : await context.accounts.deductCredits(account.value.id, amount, reason, "admin-api");
        if (!balance.ok) return fail(reply, balance.code, balance.message);
        return ok(reply, { accountId: account.value.id, account: account.value.name, amount, balance: balance.value });
      },
    );
  }
}
