import type { FastifyInstance } from "fastify";
import { MAX_OWN_ACTIVE_KEYS } from "../../domain/accounts/account-service.ts";
import { ownKeyView } from "../../views/account-views.ts";
import type { ApiContext } from "../context.ts";
import { fail, ok } from "../envelope.ts";
import { jsonObjectBody } from "../json-body.ts";
import { callerOf } from "../request-fields.ts";
import { accountRoute } from "./account-route.ts";

const nullableNumber = { type: ["number", "null"] };

const ownKeySchema = {
  type: "object",
  required: ["id", "prefix", "mode", "name", "createdAt", "lastUsedAt", "revokedAt", "current"],
  properties: {
    id: { type: "string", example: "key_01jdw..." },
    prefix: { type: "string", example: "ig_live_Mf3Q", description: "The key's first 12 characters; the key itself is never stored." },
    mode: { type: "string", enum: ["live", "test"] },
    name: { type: ["string", "null"], description: "The name given when the key was made, if any." },
    createdAt: { type: "number", description: "Epoch ms." },
    lastUsedAt: { ...nullableNumber, description: "Epoch ms of the key's latest request, to about a minute; null when never used." },
    revokedAt: { ...nullableNumber, description: "Epoch ms; null while the key works." },
    current: { type: "boolean", description: "True for the key that made this request." },
  },
};

const createdKeySchema = {
  ...ownKeySchema,
  required: [...ownKeySchema.required, "key"],
  properties: { ...ownKeySchema.properties, key: { type: "string", description: "The secret key: shown only in this answer." } },
};

export function registerOwnKeys(api: FastifyInstance, context: ApiContext): void {
  api.get(
    "/keys",
    accountRoute({
      operationId: "listKeys",
      summary: "List the account's keys, newest first",
      description: "Every key of the caller's account, revoked ones included, by their prefix: never the keys themselves.",
      tag: "account",
      data: { type: "array", items: ownKeySchema },
    }),
    async (request, reply) => {
      const caller = callerOf(request);
      return ok(reply, (await context.accounts.listOwnKeys(caller)).map((record) => ownKeyView(record, caller.keyId)));
    },
  );

  api.post(
    "/keys",
    accountRoute({
      operationId: "createKey",
      summary: "Make a key for the account",
      description: `The answer holds the key itself, once: only its hash is stored. Only a live key may make keys, of either mode; an account may have ${MAX_OWN_ACTIVE_KEYS} active keys.`,
      tag: "account",
      body: {
        type: "object",
        properties: {
          mode: { type: "string", enum: ["live", "test"], default: "live", description: "test: sandbox images, no credits." },
          name: { type: "string", minLength: 1, maxLength: 64, description: "What the key is for, shown in the list." },
        },
      },
      data: createdKeySchema,
      errors: {
        400: "The body is not a JSON object, or name is not a string.",
        403: "A test-mode key cannot make keys: use a live key (ig_live_...).",
        409: `The account already has ${MAX_OWN_ACTIVE_KEYS} active keys.`,
        422: "mode or name is not one of the values accepted, or another field is sent; msg names it.",
      },
    }),
    async (request, reply) => {
      const caller = callerOf(request);
      const body = jsonObjectBody(request.body, { requirement: "The request body must be a JSON object.", optional: true, allowed: ["mode", "name"] });
      if (!body.ok) return fail(reply, body.code, body.message);
      const mode = body.value.mode ?? "live";
      if (mode !== "live" && mode !== "test") return fail(reply, "VALIDATION_FAILED", "mode must be one of live, test");
      const name = body.value.name ?? null;
      if (name !== null && typeof name !== "string") return fail(reply, "BAD_REQUEST", "name must be a string.");
      const created = await context.accounts.createOwnKey(caller, mode, name);
      if (!created.ok) return fail(reply, created.code, created.message);
      return ok(reply, { ...ownKeyView(created.value.record, caller.keyId), key: created.value.key });
    },
  );

  api.post<{ Params: { keyId: string } }>(
    "/keys/:keyId/revoke",
    accountRoute({
      operationId: "revokeKey",
      summary: "Revoke one of the account's keys",
      description:
        "The key answers 401 from the next request on, on every server. A key may revoke itself: this request still succeeds. Revoking a revoked key answers it unchanged.",
      tag: "account",
      params: { type: "object", required: ["keyId"], properties: { keyId: { type: "string", description: "The key's id (key_...)." } } },
      data: ownKeySchema,
      errors: { 403: "A test-mode key cannot revoke keys: use a live key (ig_live_...).", 404: "No such key of the caller's account." },
    }),
    async (request, reply) => {
      const caller = callerOf(request);
      const revoked = await context.accounts.revokeOwnKey(caller, request.params.keyId);
      if (!revoked.ok) return fail(reply, revoked.code, revoked.message);
      return ok(reply, ownKeyView(revoked.value, caller.keyId));
    },
  );
}
