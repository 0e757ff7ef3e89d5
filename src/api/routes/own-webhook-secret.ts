import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ApiContext } from "../context.ts";
import { fail, ok } from "../envelope.ts";
import { callerOf } from "../request-fields.ts";
import { accountRoute } from "./account-route.ts";

const webhookSecretSchema = {
  type: "object",
  required: ["secret"],
  properties: {
    secret: {
      type: "string",
      example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      description: "whsec_ + base64 of 32 random bytes; the HMAC key of both callback signatures is the decoded bytes.",
    },
  },
};

export function registerOwnWebhookSecret(api: FastifyInstance, context: ApiContext): void {
  const answer = async (request: FastifyRequest, reply: FastifyReply, rotate: boolean): Promise<FastifyReply> => {
    const secret = await context.accounts.ownWebhookSecret(callerOf(request), rotate);
    if (!secret.ok) return fail(reply, secret.code, secret.message);
    return ok(reply, { secret: secret.value });
  };

  api.get(
    "/webhook-secret",
    accountRoute({
      operationId: "getWebhookSecret",
      summary: "The account's webhook secret",
      description: "The secret that signs the account's callbacks; made now when the account has none yet. Only a live key may read it.",
      tag: "account",
      data: webhookSecretSchema,
      errors: { 403: "A test-mode key cannot read the webhook secret: use a live key (ig_live_...)." },
    }),
    async (request, reply) => answer(request, reply, false),
  );

  api.post(
    "/webhook-secret/rotate",
    accountRoute({
      operationId: "rotateWebhookSecret",
      summary: "Replace the account's webhook secret",
      description:
        "Every callback sent from now on, retries and redeliveries included, is signed with the new secret only; the old one stops verifying. Only a live key may rotate it.",
      tag: "account",
      data: webhookSecretSchema,
      errors: { 403: "A test-mode key cannot rotate the webhook secret: use a live key (ig_live_...)." },
    }),
    async (request, reply) => answer(request, reply, true),
  );
}
