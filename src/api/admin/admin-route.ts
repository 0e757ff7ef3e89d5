import type { SwaggerTransform } from "@fastify/swagger";
import type { FastifySchema } from "fastify";
import { envelopeSchema, errorEnvelopeSchema } from "../envelope.ts";

export const ADMIN_SECURITY_SCHEME = {
  type: "http",
  scheme: "bearer",
  description: "The operator's ADMIN_API_KEY. Account API keys (ig_live_..., ig_test_...) are refused with 401.",
} as const;

/**
 * The OpenAPI document is configured before this plugin exists, so the first admin route that is
 * described adds the adminBearer scheme to it.
 */
const addAdminSecurityScheme: SwaggerTransform = (document) => {
  if ("openapiObject" in document) {
    const components = document.openapiObject.components ?? {};
    document.openapiObject.components = {
      ...components,
      securitySchemes: { ...components.securitySchemes, adminBearer: ADMIN_SECURITY_SCHEME },
    };
  }
  return { schema: document.schema, url: document.url };
};

export interface AdminRouteDescription {
  /** Stable camelCase name, admin-prefixed: the method name generated clients give the route. */
  operationId: string;
  summary: string;
  description?: string;
  params?: object;
  querystring?: object;
  body?: object;
  /** JSON schema of `data` on success. */
  data: object;
  /** Error statuses the route can answer besides 401. */
  errors?: readonly number[];
}

/** Route options shared by every admin route: tag, security, envelope responses, OpenAPI scheme. */
export function adminRoute(description: AdminRouteDescription): {
  schema: FastifySchema;
  config: { swaggerTransform: SwaggerTransform };
} {
  const response: Record<number, object> = { 200: envelopeSchema(description.data, "Success."), 401: errorEnvelopeSchema };
  for (const status of description.errors ?? []) response[status] = errorEnvelopeSchema;
  return {
    schema: {
      operationId: description.operationId,
      summary: description.summary,
      ...(description.description === undefined ? {} : { description: description.description }),
      tags: ["admin"],
      security: [{ adminBearer: [] }],
      ...(description.params === undefined ? {} : { params: description.params }),
      ...(description.querystring === undefined ? {} : { querystring: description.querystring }),
      ...(description.body === undefined ? {} : { body: description.body }),
      response,
    },
    config: { swaggerTransform: addAdminSecurityScheme },
  };
}

const nullableString = { type: ["string", "null"] };
const nullableNumber = { type: ["number", "null"] };

export const limitsSchema = {
  type: "object",
  description: "Per-account overrides; null means the server's default applies.",
  properties: {
    activeTasks: { ...nullableNumber, description: "Most non-terminal tasks at once." },
    createTask: { ...nullableString, description: "createTask rate per key, such as 20/10s." },
    other: { ...nullableString, description: "Rate of every other route per key, such as 10/1s." },
  },
};

export const accountSchema = {
  type: "object",
  properties: {
    id: { type: "string", example: "acct_01jd..." },
    name: { type: "string" },
    createdAt: { type: "number", description: "Epoch ms." },
    credits: { type: "number", description: "The balance: holds of active tasks already deducted." },
    limits: limitsSchema,
  },
};

export const keySchema = {
  type: "object",
  properties: {
    id: { type: "string", example: "key_01jd..." },
    accountId: { type: "string" },
    mode: { type: "string", enum: ["live", "test"] },
    hint: { type: "string", description: "The key's first characters; the key itself is never stored." },
    createdAt: { type: "number" },
    revokedAt: nullableNumber,
    name: { ...nullableString, description: "The name given when the key was made, if any." },
    lastUsedAt: { ...nullableNumber, description: "Epoch ms of the key's latest request, to about a minute; null when never used." },
  },
};

export const createdKeySchema = {
  ...keySchema,
  properties: { ...keySchema.properties, key: { type: "string", description: "The secret key: shown only in this answer." } },
};

export const ledgerEntrySchema = {
  type: "object",
  properties: {
    id: { type: "number" },
    taskId: nullableString,
    kind: { type: "string", enum: ["grant", "deduct", "hold", "capture", "release"] },
    amount: { type: "number", description: "Signed: what the entry did to the balance." },
    balanceAfter: { type: "number" },
    reason: nullableString,
    actor: nullableString,
    createdAt: { type: "number" },
  },
};

export const accountParams = {
  type: "object",
  required: ["account"],
  properties: { account: { type: "string", description: "The account's name or id." } },
};

export const keyParams = {
  type: "object",
  required: ["keyId"],
  properties: { keyId: { type: "string", description: "The key's id (key_...)." } },
};
