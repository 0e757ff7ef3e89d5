import type { FastifyInstance, FastifyReply } from "fastify";
import type { ApiContext } from "../context.ts";
import { FAIL_CODES, type TaskRecord } from "../../domain/tasks/task.ts";
import { envelopeSchema, errorEnvelopeSchema, fail, JSON_CONTENT_TYPE, okEnvelope } from "../envelope.ts";
import { callerOf, taskIdFromQuery } from "../request-fields.ts";

const nullableString = { type: ["string", "null"] };
const nullableNumber = { type: ["number", "null"] };

export const taskRecordSchema = {
  type: "object",
  required: [
    "taskId", "model", "state", "param", "resultJson", "failCode", "failMsg",
    "costTime", "completeTime", "createTime", "updateTime",
  ],
  properties: {
    taskId: { type: "string" },
    model: { type: "string" },
    state: { type: "string", enum: ["waiting", "queuing", "generating", "success", "fail"] },
    param: { type: "string", description: "JSON text of the accepted request body, as sent." },
    resultJson: { ...nullableString, description: 'On success: JSON text {"resultUrls":["https://..."]}.' },
    failCode: {
      type: ["string", "null"],
      enum: [...FAIL_CODES, null],
    },
    failMsg: nullableString,
    costTime: { ...nullableNumber, description: "completeTime - createTime, in ms, once terminal." },
    completeTime: { ...nullableNumber, description: "Epoch ms, once terminal." },
    createTime: { type: "number", description: "Epoch ms." },
    updateTime: { type: "number", description: "Epoch ms of the last state change." },
  },
};

export function registerRecordInfo(api: FastifyInstance, context: ApiContext): void {
  // Clients poll: the same record is asked for again and again until its task changes, and a
  // change makes a new record object (see getRecordForAccount), so each record's answer is
  // serialized once, by the route's own serializer, and kept as long as the record is.
  const answers = new WeakMap<TaskRecord, ReturnType<FastifyReply["serialize"]>>();
  api.get(
    "/jobs/recordInfo",
    {
      schema: {
        operationId: "recordInfo",
        summary: "Query a task",
        tags: ["tasks"],
        security: [{ bearerAuth: [] }],
        querystring: { type: "object", required: ["taskId"], properties: { taskId: { type: "string" } } },
        response: {
          200: envelopeSchema(taskRecordSchema, "The task's current record."),
          400: errorEnvelopeSchema,
          401: errorEnvelopeSchema,
          404: errorEnvelopeSchema,
          429: errorEnvelopeSchema,
        },
      },
    },
    async (request, reply) => {
      const taskId = taskIdFromQuery(request);
      if (!taskId.ok) return fail(reply, taskId.code, taskId.message);
      const found = await context.tasks.record(callerOf(request).accountId, taskId.value);
      if (!found.ok) return fail(reply, found.code, found.message);
      reply.code(200);
      let answer = answers.get(found.value);
      if (answer === undefined) {
        answer = reply.serialize(okEnvelope(found.value));
        answers.set(found.value, answer);
      }
      return reply.type(JSON_CONTENT_TYPE).send(answer);
    },
  );
}
