import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { ApiContext } from "../context.ts";
import { envelopeSchema, errorEnvelopeSchema, fail, ok } from "../envelope.ts";
import { jsonObjectBody } from "../json-body.ts";
import { callerOf } from "../request-fields.ts";

const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,255}$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function registerCreateTask(api: FastifyInstance, context: ApiContext): void {
  const models = context.catalog.list();
  api.post(
    "/jobs/createTask",
    {
      schema: {
        summary: "Create a text-to-image task",
        description:
          "Validates the request, stores the task durably and answers its taskId. Poll recordInfo for the result.",
        tags: ["tasks"],
        security: [{ bearerAuth: [] }],
        body: {
          type: "object",
          required: ["model", "input"],
          properties: {
            model: { type: "string", enum: models.map((model) => model.id) },
            input: z.toJSONSchema(models[0]?.inputSchema ?? z.object({}), { io: "input", unrepresentable: "any" }),
            callBackUrl: { type: "string", format: "uri", maxLength: 2048 },
          },
        },
        response: {
          200: envelopeSchema(
            { type: "object", required: ["taskId"], properties: { taskId: { type: "string", example: "task_01jd..." } } },
            "The task was accepted and stored.",
          ),
          400: errorEnvelopeSchema,
          401: errorEnvelopeSchema,
          402: errorEnvelopeSchema,
          409: errorEnvelopeSchema,
          413: errorEnvelopeSchema,
          422: errorEnvelopeSchema,
          429: errorEnvelopeSchema,
        },
      },
    },
    async (request, reply) => {
      const parsed = jsonObjectBody(request.body, { requirement: "The request body must be a JSON object with model and input." });
      if (!parsed.ok) return fail(reply, parsed.code, parsed.message);
      const body = parsed.value;
      if (typeof body.model !== "string") return fail(reply, "BAD_REQUEST", "model is required and must be a string.");
      if (!isObject(body.input)) return fail(reply, "BAD_REQUEST", "input is required and must be an object.");
      const idempotencyKey = request.headers["idempotency-key"];
      if (idempotencyKey !== undefined && (typeof idempotencyKey !== "string" || !IDEMPOTENCY_KEY.test(idempotencyKey))) {
        return fail(reply, "BAD_REQUEST", "The Idempotency-Key header must be 1 to 255 printable ASCII characters.");
      }
      // Node joins a repeated header's values with ", ", which would make two keys one new key.
      if (idempotencyKey !== undefined && (request.raw.headersDistinct["idempotency-key"]?.length ?? 0) > 1) {
        return fail(reply, "BAD_REQUEST", "The Idempotency-Key header must be sent once.");
      }
      const created = await context.tasks.create({
        caller: callerOf(request),
        model: body.model,
        input: body.input,
        callbackUrl: "callBackUrl" in body ? body.callBackUrl : undefined,
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      });
      if (!created.ok) return fail(reply, created.code, created.message);
      return ok(reply, { taskId: created.value.id });
    },
  );
}
