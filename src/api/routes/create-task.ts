import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { ApiContext } from "../context.ts";
import { envelopeSchema, errorEnvelopeSchema, errorResponseSchema, fail, ok } from "../envelope.ts";
import { jsonObjectBody } from "../json-body.ts";
import { callerOf } from "../request-fields.ts";

const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,255}$/;

const CALLBACK_URL_SCHEMA = {
  type: ["string", "null"],
  maxLength: 2048,
  description:
    "Optional absolute http(s) URL, without a user name or password: when the task succeeds or fails, its record is POSTed here, signed with the account's webhook secret. \"\" or null: no callback.",
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function registerCreateTask(api: FastifyInstance, context: ApiContext): void {
  const models = context.catalog.list();
  api.post(
    "/jobs/createTask",
    {
      schema: {
        operationId: "createTask",
        summary: "Create an image task",
        description:
          "Validates the request against the model's input schema (GET /api/v1/models lists them), stores the task durably and answers its taskId. Poll recordInfo for the result.",
        tags: ["tasks"],
        security: [{ bearerAuth: [] }],
        headers: {
          type: "object",
          properties: {
            "Idempotency-Key": {
              type: "string",
              minLength: 1,
              maxLength: 255,
              pattern: "^[\\x20-\\x7e]{1,255}$",
              description:
                "1 to 255 printable ASCII characters, sent once, scoped to the account and kept 24 hours. The same key with the same body answers the first response again (same taskId, no second charge); with a different body: 422; while the first request is still being processed: 409.",
            },
          },
        },
        body: {
          // One schema per model, told apart by `model`: a generated client types each model's input.
          oneOf: models.map((model) => ({
            type: "object",
            title: model.id,
            description: model.description,
            required: ["model", "input"],
            properties: {
              model: { type: "string", const: model.id },
              input: z.toJSONSchema(model.inputSchema, { io: "input", unrepresentable: "any" }),
              callBackUrl: CALLBACK_URL_SCHEMA,
            },
          })),
          // Without an example of its own, the docs page would make one with a callBackUrl, and
          // trying it out would send a callback to a stranger's host.
          examples: [{ model: models[0]?.id ?? "", input: { prompt: "A watercolor fox in a snowy forest", image_size: "1:1" } }],
        },
        response: {
          200: envelopeSchema(
            { type: "object", required: ["taskId"], properties: { taskId: { type: "string", example: "task_01jd..." } } },
            "The task was accepted and stored, or, for a repeated Idempotency-Key with the same body, the first task's answer again.",
          ),
          400: errorResponseSchema("The body is not a JSON object with model and input, or the Idempotency-Key header is malformed or repeated."),
          401: errorEnvelopeSchema,
          402: errorResponseSchema("The account's credits do not cover the model's price."),
          409: errorResponseSchema(
            "A request with the same Idempotency-Key is still being processed (retry shortly), or the account has its maximum of active tasks.",
          ),
          413: errorResponseSchema("The body is larger than 1 MiB."),
          422: errorResponseSchema("An input field is invalid (msg names it), or the Idempotency-Key was already used with a different body."),
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
