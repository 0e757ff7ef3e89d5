import type { FastifyInstance } from "fastify";
import { DELIVERY_STATES, type DeliveryQuery } from "../../domain/callbacks/callback-service.ts";
import { failure, success, type Result } from "../../domain/errors.ts";
import type { ApiContext } from "../context.ts";
import { fail, ok } from "../envelope.ts";
import { adminRoute } from "./admin-route.ts";
import { deliveryDetailsSchema, deliverySchema } from "../callback-schemas.ts";
import { deliveryDetailsView, deliveryView } from "../../views/callback-views.ts";
import { parseCount, queryText } from "../request-values.ts";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;

const deliveryParams = {
  type: "object",
  required: ["deliveryId"],
  properties: { deliveryId: { type: "string", description: "The delivery's id (msg_...), the callback's webhook-id." } },
};

function readDeliveryQuery(query: unknown): Result<DeliveryQuery> {
  const account = queryText(query, "account");
  if (!account.ok) return account;
  const taskId = queryText(query, "task");
  if (!taskId.ok) return taskId;
  const stateText = queryText(query, "state");
  if (!stateText.ok) return stateText;
  const state = DELIVERY_STATES.find((candidate) => candidate === stateText.value);
  if (stateText.value !== undefined && state === undefined) {
    return failure("VALIDATION_FAILED", `state must be one of ${DELIVERY_STATES.join(", ")}`);
  }
  const limitText = queryText(query, "limit");
  if (!limitText.ok) return limitText;
  const limit = parseCount("limit", limitText.value, DEFAULT_LIMIT, MAX_LIMIT);
  if (!limit.ok) return limit;
  return success({
    limit: limit.value,
    ...(account.value === undefined ? {} : { account: account.value }),
    ...(taskId.value === undefined ? {} : { taskId: taskId.value }),
    ...(state === undefined ? {} : { state }),
  });
}

export function registerCallbacksRoutes(admin: FastifyInstance, context: ApiContext): void {
  const accountName = async (accountId: string): Promise<string | null> => (await context.accounts.findAccount(accountId))?.name ?? null;

  admin.get(
    "/callbacks",
    adminRoute({
      operationId: "adminListCallbacks",
      summary: "List callback deliveries, newest first",
      querystring: {
        type: "object",
        properties: {
          account: { type: "string", description: "Account name or id." },
          task: { type: "string", description: "Only this task's deliveries." },
          state: { type: "string", enum: [...DELIVERY_STATES] },
          limit: { type: "integer", minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT },
        },
      },
      data: { type: "array", items: deliverySchema },
      errors: [400, 404, 422],
    }),
    async (request, reply) => {
      const query = readDeliveryQuery(request.query);
      if (!query.ok) return fail(reply, query.code, query.message);
      const deliveries = await context.callbacks.listDeliveries(query.value);
      if (!deliveries.ok) return fail(reply, deliveries.code, deliveries.message);
      const names = new Map((await context.accounts.listAccounts()).map((account) => [account.id, account.name]));
      return ok(reply, deliveries.value.map((delivery) => deliveryView(delivery, names.get(delivery.accountId) ?? null)));
    },
  );

  admin.get<{ Params: { deliveryId: string } }>(
    "/callbacks/:deliveryId",
    adminRoute({
      operationId: "adminGetCallback",
      summary: "Show a callback delivery with its body and every attempt",
      params: deliveryParams,
      data: deliveryDetailsSchema,
      errors: [404],
    }),
    async (request, reply) => {
      const details = await context.callbacks.showDelivery(request.params.deliveryId);
      if (!details.ok) return fail(reply, details.code, details.message);
      return ok(reply, deliveryDetailsView(details.value, await accountName(details.value.delivery.accountId)));
    },
  );

  admin.post<{ Params: { deliveryId: string } }>(
    "/callbacks/:deliveryId/redeliver",
    adminRoute({
      operationId: "adminRedeliverCallback",
      summary: "Send a callback again",
      description:
        "Makes the delivery pending and sends it now, whatever its state: the same body and webhook-id, signed with the account's current secret. A failed redelivery is retried on the schedule until 24 hours after the task settled.",
      params: deliveryParams,
      data: deliverySchema,
      errors: [404],
    }),
    async (request, reply) => {
      const queued = await context.callbacks.redeliver(request.params.deliveryId, "admin-api");
      if (!queued.ok) return fail(reply, queued.code, queued.message);
      return ok(reply, deliveryView(queued.value, await accountName(queued.value.accountId)));
    },
  );
}
