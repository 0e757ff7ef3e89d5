import type { FastifyInstance } from "fastify";
import type { ApiContext } from "../context.ts";
import { envelopeSchema, errorEnvelopeSchema, fail, ok } from "../envelope.ts";
import { jsonObjectBody } from "../json-body.ts";
import { callerOf } from "../request-fields.ts";

const LINK_LIFETIME_SECONDS = 20 * 60;
const NOT_A_RESULT = "url must be a resultUrl of one of your tasks.";

export function registerDownloadUrl(api: FastifyInstance, context: ApiContext): void {
  api.post(
    "/common/download-url",
    {
      schema: {
        operationId: "getDownloadUrl",
        summary: "A short-lived download link for a result",
        description: "Given a resultUrl of one of the caller's tasks, answers a URL for the same file valid for 20 minutes.",
        tags: ["files"],
        security: [{ bearerAuth: [] }],
        body: { type: "object", required: ["url"], properties: { url: { type: "string", format: "uri" } } },
        response: {
          200: envelopeSchema({ type: "string", format: "uri" }, "A URL valid for 20 minutes."),
          400: errorEnvelopeSchema,
          401: errorEnvelopeSchema,
          422: errorEnvelopeSchema,
          429: errorEnvelopeSchema,
        },
      },
    },
    async (request, reply) => {
      const missing = "url is required and must be a string.";
      const body = jsonObjectBody(request.body, { requirement: missing });
      if (!body.ok) return fail(reply, body.code, body.message);
      const url = body.value.url;
      if (typeof url !== "string") return fail(reply, "BAD_REQUEST", missing);
      const caller = callerOf(request);
      const claim = context.resultUrls.claim(url);
      if (claim === null) return fail(reply, "VALIDATION_FAILED", NOT_A_RESULT);
      const task = await context.tasks.get(caller.accountId, claim.taskId);
      const file = task.ok && task.value.resultJson !== null ? claim.confirm(task.value.resultJson) : null;
      if (file === null) return fail(reply, "VALIDATION_FAILED", NOT_A_RESULT);
      const nowSeconds = Math.floor(context.clock.now() / 1000);
      const expiresAt = Math.min(nowSeconds + LINK_LIFETIME_SECONDS, file.expiresAt);
      if (expiresAt <= nowSeconds) {
        return fail(reply, "VALIDATION_FAILED", "url has passed its retention period; the file is no longer kept.");
      }
      return ok(reply, await context.resultUrls.issue(file.key, expiresAt));
    },
  );
}
