import type { FastifyInstance } from "fastify";
import type { ApiContext } from "../context.ts";
import { fail, ok } from "../envelope.ts";
import { accountParams, adminRoute, createdKeySchema, keyParams, keySchema } from "./admin-route.ts";
import { accountIdFromQuery, readBody } from "../request-values.ts";
import { keyView } from "../../views/operator-views.ts";

export function registerKeysRoutes(admin: FastifyInstance, context: ApiContext): void {
  admin.post<{ Params: { account: string } }>(
    "/accounts/:account/keys",
    adminRoute({
      operationId: "adminCreateKey",
      summary: "Create an API key for an account",
      description: "The answer holds the key itself, once; only its hash is stored.",
      params: accountParams,
      body: {
        type: "object",
        properties: {
          mode: { type: "string", enum: ["live", "test"], default: "live", description: "test: sandbox images, no credits." },
          name: { type: "string", minLength: 1, maxLength: 64, description: "What the key is for, shown in listings." },
        },
      },
      data: createdKeySchema,
      errors: [400, 404, 422],
    }),
    async (request, reply) => {
      const body = readBody(request.body, ["mode", "name"]);
      if (!body.ok) return fail(reply, body.code, body.message);
      const mode = body.value.mode ?? "live";
      if (mode !== "live" && mode !== "test") return fail(reply, "VALIDATION_FAILED", "mode must be one of live, test");
      const name = body.value.name ?? null;
      if (name !== null && typeof name !== "string") return fail(reply, "BAD_REQUEST", "name must be a string.");
      const created = await context.accounts.createKey(request.params.account, mode, "admin-api", { name });
      if (!created.ok) return fail(reply, created.code, created.message);
      return ok(reply, { ...keyView(created.value.record), key: created.value.key });
    },
  );

  admin.get(
    "/keys",
    adminRoute({
      operationId: "adminListKeys",
      summary: "List API keys (ids and hints, never the keys)",
      querystring: { type: "object", properties: { account: { type: "string", description: "Only this account's keys (name or id)." } } },
      data: { type: "array", items: keySchema },
      errors: [400, 404],
    }),
    async (request, reply) => {
      const accountId = await accountIdFromQuery(request.query, context.accounts);
      if (!accountId.ok) return fail(reply, accountId.code, accountId.message);
      return ok(reply, (await context.accounts.listKeys(accountId.value)).map(keyView));
    },
  );

  admin.post<{ Params: { keyId: string } }>(
    "/keys/:keyId/revoke",
    adminRoute({
      operationId: "adminRevokeKey",
      summary: "Revoke an API key: it answers 401 from now on",
      params: keyParams,
      data: keySchema,
      errors: [404],
    }),
    async (request, reply) => {
      const revoked = await context.accounts.revokeKey(request.params.keyId, "admin-api");
      if (!revoked.ok) return fail(reply, revoked.code, revoked.message);
      const record = await context.accounts.findKey(request.params.keyId);
      if (record === null) return fail(reply, "NOT_FOUND", `no key with id ${request.params.keyId}`);
      return ok(reply, keyView(record));
    },
  );

  admin.post<{ Params: { keyId: string } }>(
    "/keys/:keyId/rotate",
    adminRoute({
      operationId: "adminRotateKey",
      summary: "Rotate an API key: a new key for the same account and mode; the old one is revoked",
      description: "The answer holds the new key itself, once.",
      params: keyParams,
      data: {
        ...createdKeySchema,
        properties: { ...createdKeySchema.properties, replaces: { type: "string", description: "The revoked key's id." } },
      },
      errors: [404],
    }),
    async (request, reply) => {
      const rotated = await context.accounts.rotateKey(request.params.keyId, "admin-api");
      if (!rotated.ok) return fail(reply, rotated.code, rotated.message);
      return ok(reply, { ...keyView(rotated.value.record), key: rotated.value.key, replaces: request.params.keyId });
    },
  );
}
