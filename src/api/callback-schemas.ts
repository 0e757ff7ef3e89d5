import { DELIVERY_STATES } from "../domain/callbacks/callback-service.ts";

// Callback deliveries and their attempts as the API shows them, to the operator and to the account alike.
const nullableNumber = { type: ["number", "null"] };
const nullableString = { type: ["string", "null"] };

export const deliverySchema = {
  type: "object",
  properties: {
    id: { type: "string", example: "msg_01jdw...", description: "Also the webhook-id header, the same on every attempt." },
    taskId: { type: "string" },
    accountId: { type: "string" },
    accountName: nullableString,
    url: { type: "string", description: "The task's callBackUrl." },
    state: { type: "string", enum: [...DELIVERY_STATES] },
    attempts: { type: "integer", description: "Attempts made so far." },
    createdAt: { type: "number", description: "Epoch ms: when the task settled." },
    updatedAt: { type: "number" },
    nextAttemptAt: { ...nullableNumber, description: "When the next attempt is due; null unless pending." },
    deliveredAt: nullableNumber,
    lastStatus: { ...nullableNumber, description: "HTTP status of the latest attempt; null when none came." },
    lastError: nullableString,
  },
};

export const attemptSchema = {
  type: "object",
  properties: {
    at: { type: "number", description: "Epoch ms when the attempt was sent." },
    status: { ...nullableNumber, description: "HTTP status answered; null when none came (refused, network error, timeout)." },
    durationMs: { type: "number" },
    error: nullableString,
  },
};

export const deliveryDetailsSchema = {
  type: "object",
  properties: {
    delivery: {
      ...deliverySchema,
      properties: { ...deliverySchema.properties, payload: { type: "string", description: "The exact JSON body POSTed." } },
    },
    attempts: { type: "array", items: attemptSchema, description: "Every attempt, oldest first." },
  },
};
