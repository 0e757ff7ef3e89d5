import type { FastifyInstance, FastifyReply } from "fastify";
import type { ApiContext } from "../context.ts";
import { fail, ok } from "../envelope.ts";
import { accountParams, adminRoute } from "./admin-route.ts";
import type { WebhookSecretView } from "../../views/callback-views.ts";

const webhookSecretSchema = {
  type: "object",
  properties: {
    accountId: { type: "string" },
    account: { type: "string", description: "The account's name." },
    secret: {
      type: "string",
      example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      description: "whsec_ + base64 of 32 random bytes; the HMAC key of both callback signatures is the decoded bytes.",
    },
  },
};

async function answerSecret(context: ApiContext, reply: FastifyReply, nameOrId: string, rotate: boolean): Promise<FastifyReply> {
  const account = await context.accounts.requireAccount(nameOrId);
  if (!account.ok) return fail(reply, account.code, account.message);
  const secret = await context.accounts.webhookSecret(account.value.id, { rotate, actor: "admin-api" });
  if (!secret.ok) return fail(reply, secret.code, secret.message);
  return ok(reply, { accountId: account.value.id, account: account.value.name, secret: secret.value } satisfies WebhookSecretView);
}

export function registerWebhookSecretRoutes(admin: FastifyInstance, context: ApiContext): void {
  admin.get<{ Params: { account: string } }>(
    "/accounts/:account/webhook-secret",
    adminRoute({
      operationId: "adminGetWebhookSecret",
      summary: "Show an account's webhook secret",
      description: "The secret that signs the account's callbacks; made now when the account has none yet.",
      params: accountParams,
      data: webhookSecretSchema,
      errors: [404],
    }),
    async (request, reply) => answerSecret(context, reply, request.params.account, false),
  );

  admin.post<{ Params: { account: string } }>(
    "/accounts/:account/webhook-secret/rotate",
    adminRoute({
      operationId: "adminRotateWebhookSecret",
      summary: "Replace an account's webhook secret",
      description:
        "Every callback sent from now on, retries and redeliveries included, is signed with the new secret only; the old one stops verifying.",
      params: accountParams,
      data: webhookSecretSchema,
      errors: [404],
    }),
    async (request, reply) => answerSecret(context, reply, request.params.account, true),
  );
}
