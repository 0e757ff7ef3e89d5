import type { FastifyInstance } from "fastify";
import type { ApiContext } from "../context.ts";
import { fail, ok } from "../envelope.ts";
import { accountParams, accountSchema, adminRoute, keySchema, ledgerEntrySchema } from "./admin-route.ts";
import { readBody } from "../request-values.ts";
import { keyView, ledgerView } from "../../views/operator-views.ts";

const RECENT_LEDGER_ENTRIES = 20;

export function registerAccountsRoutes(admin: FastifyInstance, context: ApiContext): void {
  admin.post(
    "/accounts",
    adminRoute({
      operationId: "adminCreateAccount",
      summary: "Create an account",
      body: { type: "object", required: ["name"], properties: { name: { type: "string", example: "acme" } } },
      data: accountSchema,
      errors: [400, 409, 422],
    }),
    async (request, reply) => {
      const body = readBody(request.body, ["name"]);
      if (!body.ok) return fail(reply, body.code, body.message);
      const name = body.value.name;
      if (typeof name !== "string") return fail(reply, "BAD_REQUEST", "name is required and must be a string.");
      const created = await context.accounts.createAccount(name, "admin-api");
      if (!created.ok) return fail(reply, created.code, created.message);
      return ok(reply, created.value);
    },
  );

  admin.get(
    "/accounts",
    adminRoute({
      operationId: "adminListAccounts",
      summary: "List accounts with their balances and limits",
      data: { type: "array", items: accountSchema },
    }),
    async (_request, reply) => ok(reply, await context.accounts.listAccounts()),
  );

  admin.get<{ Params: { account: string } }>(
    "/accounts/:account",
    adminRoute({
      operationId: "adminGetAccount",
      summary: "Show an account: balance, limits, keys and recent ledger entries",
      params: accountParams,
      data: {
        ...accountSchema,
        properties: {
          ...accountSchema.properties,
          keys: { type: "array", items: keySchema },
          ledger: { type: "array", items: ledgerEntrySchema, description: `The ${RECENT_LEDGER_ENTRIES} latest entries, newest first.` },
        },
      },
      errors: [404],
    }),
    async (request, reply) => {
      const account = await context.accounts.requireAccount(request.params.account);
      if (!account.ok) return fail(reply, account.code, account.message);
      const ledger = await context.accounts.ledger(account.value.id, RECENT_LEDGER_ENTRIES);
      if (!ledger.ok) return fail(reply, ledger.code, ledger.message);
      const keys = await context.accounts.listKeys(account.value.id);
      return ok(reply, { ...account.value, keys: keys.map(keyView), ledger: ledger.value.map(ledgerView) });
    },
  );
}
