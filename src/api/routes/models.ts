import type { FastifyInstance } from "fastify";
import { catalogView } from "../../views/model-views.ts";
import type { ApiContext } from "../context.ts";
import { envelopeSchema, errorEnvelopeSchema, ok } from "../envelope.ts";

const modelSchema = {
  type: "object",
  required: ["id", "description", "price", "inputSchema", "defaults", "limits", "resultSizes"],
  properties: {
    id: { type: "string", example: "nano-banana-text-to-image" },
    description: { type: "string" },
    price: { type: "number", description: "Credits one task costs on this server.", example: 4 },
    // additionalProperties: the answer's serializer would otherwise drop every field of these two.
    inputSchema: { type: "object", additionalProperties: true, description: "JSON Schema of `input` as a client sends it (before defaults)." },
    defaults: { type: "object", additionalProperties: true, description: "The value each optional input field takes when it is not sent." },
    limits: {
      type: "object",
      required: ["promptMaxCharacters", "inputImages"],
      properties: {
        promptMaxCharacters: { type: "integer", example: 20000 },
        inputImages: {
          type: ["object", "null"],
          description: "Reference images accepted; null for a text-only model.",
          properties: { min: { type: "integer" }, max: { type: "integer" } },
        },
      },
    },
    resultSizes: { type: "object", additionalProperties: { type: "string" }, description: "WIDTHxHEIGHT per aspect ratio.", example: { "1:1": "1024x1024" } },
  },
};

/** GET /api/v1/models: every model this server serves, with what a client needs to call it. */
export function registerModels(api: FastifyInstance, context: ApiContext): void {
  // The catalog and prices are fixed at start: the answer is made once.
  const models = catalogView(context.catalog);
  api.get(
    "/models",
    {
      schema: {
        operationId: "listModels",
        summary: "The models this server serves",
        description: "Each model's input schema, defaults, limits, result sizes and price in credits.",
        tags: ["models"],
        security: [{ bearerAuth: [] }],
        response: {
          200: envelopeSchema({ type: "array", items: modelSchema }, "Every model, in the catalog's order."),
          401: errorEnvelopeSchema,
          429: errorEnvelopeSchema,
        },
      },
    },
    async (_request, reply) => ok(reply, models),
  );
}
