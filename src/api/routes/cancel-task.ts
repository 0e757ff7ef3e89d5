import type { FastifyInstance } from "fastify";
import { toRecord } from "../../domain/tasks/task.ts";
import type { ApiContext } from "../context.ts";
import { envelopeSchema, errorEnvelopeSchema, fail, ok } from "../envelope.ts";
import { jsonObjectBody } from "../json-body.ts";
import { callerOf } from "../request-fields.ts";
import { taskRecordSchema } from "./record-info.ts";

export function registerCancelTask(api: FastifyInstance, context: ApiContext): void {
  api.post(
    "/jobs/cancelTask",
    {
      schema: {
        operationId: "cancelTask",
        summary: "Cancel a task",
        description:
          "A waiting, queuing or generating task fails with failCode CANCELED (an upstream call in flight is aborted) and its credit hold is released. Already terminal: 409.",
        tags: ["tasks"],
        security: [{ bearerAuth: [] }],
        body: { type: "object", required: ["taskId"], properties: { taskId: { type: "string" } } },
        response: {
          200: envelopeSchema(taskRecordSchema, "The canceled task's record."),
          400: errorEnvelopeSchema,
          401: errorEnvelopeSchema,
          404: errorEnvelopeSchema,
          409: errorEnvelopeSchema,
          429: errorEnvelopeSchema,
        },
      },
    },
    async (request, reply) => {
      const missing = "taskId is required and must be a non-empty string.";
      const body = jsonObjectBody(request.body, { requirement: missing });
      if (!body.ok) return fail(reply, body.code, body.message);
      const taskId = body.value.taskId;
      if (typeof taskId !== "string" || taskId.trim() === "") return fail(reply, "BAD_REQUEST", missing);
      const canceled = await context.tasks.cancel(callerOf(request).accountId, taskId);
      if (!canceled.ok) return fail(reply, canceled.code, canceled.message);
      return ok(reply, toRecord(canceled.value));
    },
  );
}
