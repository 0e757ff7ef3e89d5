import type { FastifyInstance } from "fastify";
import type { ApiContext } from "../context.ts";
import { envelopeSchema, errorEnvelopeSchema, ok } from "../envelope.ts";
import { callerOf } from "../request-fields.ts";

export function registerCredit(api: FastifyInstance, context: ApiContext): void {
  api.get(
    "/chat/credit",
    {
      schema: {
        operationId: "getCredit",
        summary: "Remaining credits",
        description: "The caller's account balance, with the holds of its active tasks already deducted.",
        tags: ["account"],
        security: [{ bearerAuth: [] }],
        response: {
          200: envelopeSchema({ type: "number", example: 996 }, "Remaining credits."),
          401: errorEnvelopeSchema,
          429: errorEnvelopeSchema,
        },
      },
    },
    async (request, reply) => {
      return ok(reply, await context.accounts.balance(callerOf(request).accountId));
    },
  );
}
