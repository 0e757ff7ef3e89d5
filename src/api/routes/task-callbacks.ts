import type { FastifyInstance } from "fastify";
import { keyActor } from "../../domain/accounts/account-service.ts";
import { isTerminal } from "../../domain/tasks/task.ts";
import { deliveryDetailsView, deliveryView } from "../../views/callback-views.ts";
import { deliveryDetailsSchema, deliverySchema } from "../callback-schemas.ts";
import type { ApiContext } from "../context.ts";
import { fail, ok } from "../envelope.ts";
import { jsonObjectBody } from "../json-body.ts";
import { callerOf, taskIdFromQuery } from "../request-fields.ts";
import { accountRoute } from "./account-route.ts";

export function registerTaskCallbacks(api: FastifyInstance, context: ApiContext): void {
  const accountName = async (accountId: string): Promise<string | null> => (await context.accounts.findAccount(accountId))?.name ?? null;

  api.get(
    "/jobs/callbacks",
    accountRoute({
      operationId: "listTaskCallbacks",
      summary: "A task's callback deliveries with every attempt",
      description:
        "The callback of a task with a callBackUrl, once it ended: its state, the exact body sent, and every attempt (time, status answered, duration, error). Empty before the task ends, or when it has no callBackUrl.",
      tag: "tasks",
      querystring: { type: "object", required: ["taskId"], properties: { taskId: { type: "string" } } },
      data: { type: "array", items: deliveryDetailsSchema, description: "Newest first: one delivery per ended task." },
      errors: { 400: "taskId is missing or given more than once.", 404: "No such task of the caller's account." },
    }),
    async (request, reply) => {
      const caller = callerOf(request);
      const taskId = taskIdFromQuery(request);
      if (!taskId.ok) return fail(reply, taskId.code, taskId.message);
      const task = await context.tasks.get(caller.accountId, taskId.value);
      if (!task.ok) return fail(reply, task.code, task.message);
      const deliveries = await context.callbacks.deliveriesOfTask(caller.accountId, task.value.id);
      const name = await accountName(caller.accountId);
      return ok(reply, deliveries.map((details) => deliveryDetailsView(details, name)));
    },
  );

  api.post(
    "/jobs/callbacks/redeliver",
    accountRoute({
      operationId: "redeliverTaskCallback",
      summary: "Send a task's callback again",
      description:
        "Makes the task's delivery pending and sends it now, whatever its state: the same body and webhook-id, signed with the account's current secret. A failed redelivery is retried on the schedule until 24 hours after the task ended.",
      tag: "tasks",
      body: { type: "object", required: ["taskId"], properties: { taskId: { type: "string" } } },
      data: deliverySchema,
      errors: {
        400: "The body is not a JSON object with a taskId string.",
        422: "The body has a field other than taskId.",
        404: "No such task of the caller's account.",
        409: "The task has no callback to send: it has no callBackUrl, or has not ended yet.",
      },
    }),
    async (request, reply) => {
      const caller = callerOf(request);
      const body = jsonObjectBody(request.body, { requirement: "The request body must be a JSON object with taskId.", allowed: ["taskId"] });
      if (!body.ok) return fail(reply, body.code, body.message);
      const taskId = body.value.taskId;
      if (typeof taskId !== "string" || taskId === "") return fail(reply, "BAD_REQUEST", "taskId is required and must be a string.");
      const task = await context.tasks.get(caller.accountId, taskId);
      if (!task.ok) return fail(reply, task.code, task.message);
      if (task.value.callbackUrl === null || task.value.callbackUrl === "") {
        return fail(reply, "CONFLICT", `Task ${taskId} has no callBackUrl: there is no callback to send.`);
      }
      const [latest] = await context.callbacks.deliveriesOfTask(caller.accountId, taskId);
      if (latest === undefined) {
        return fail(
          reply,
          "CONFLICT",
          isTerminal(task.value.state)
            ? `Task ${taskId} has no callback delivery.`
            : `Task ${taskId} has not ended yet: its callback is sent when it does.`,
        );
      }
      const queued = await context.callbacks.redeliver(latest.delivery.id, keyActor(caller));
      if (!queued.ok) return fail(reply, queued.code, queued.message);
      return ok(reply, deliveryView(queued.value, await accountName(caller.accountId)));
    },
  );
}
