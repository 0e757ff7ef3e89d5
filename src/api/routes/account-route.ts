import type { FastifySchema } from "fastify";
import { envelopeSchema, errorEnvelopeSchema, errorResponseSchema } from "../envelope.ts";

export interface AccountRouteDescription {
  /** Stable camelCase name: the method name generated clients give the route. */
  operationId: string;
  summary: string;
  description?: string;
  tag: "tasks" | "account";
  params?: object;
  querystring?: object;
  body?: object;
  /** JSON schema of `data` on success. */
  data: object;
  /** Error statuses the route can answer besides 401 and 429, with what each means here. */
  errors?: Readonly<Record<number, string>>;
}

/**
 * The schema of a route an account calls with its own key, about its own account: bearer key,
 * envelope answers, and the 401 and 429 every such route can answer.
 */
export function accountRoute(description: AccountRouteDescription): { schema: FastifySchema } {
  const response: Record<number, object> = {
    200: envelopeSchema(description.data, "Success."),
    401: errorEnvelopeSchema,
    429: errorEnvelopeSchema,
  };
  for (const [status, meaning] of Object.entries(description.errors ?? {})) response[Number(status)] = errorResponseSchema(meaning);
  return {
    schema: {
      operationId: description.operationId,
      summary: description.summary,
      ...(description.description === undefined ? {} : { description: description.description }),
      tags: [description.tag],
      security: [{ bearerAuth: [] }],
      ...(description.params === undefined ? {} : { params: description.params }),
      ...(description.querystring === undefined ? {} : { querystring: description.querystring }),
      ...(description.body === undefined ? {} : { body: description.body }),
      response,
    },
  };
}
