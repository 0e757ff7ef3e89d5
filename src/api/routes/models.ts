import type { FastifyInstance } from "fastify";
import { catalogView } from "../../views/model-views.ts";
import type { ApiContext } from "../context.ts";
import { envelopeSchema, errorEnvelopeSchema, ok } from "../envelope.ts";

const resolutionEnum = { type: "string", enum: ["1K", "2K", "4K"] };

const modelSchema = {
  type: "object",
  required: ["id", "description", "price", "prices", "inputSchema", "defaults", "limits", "resultSizes"],
  properties: {
    id: { type: "string", example: "nano-banana-pro" },
    description: { type: "string" },
    price: { type: "number", description: "Credits one task costs at the model's default resolution on this server.", example: 18 },
    prices: {
      type: "object",
      additionalProperties: { type: "number" },
      description: "Credits one task costs per resolution on this server.",
      example: { "1K": 18, "2K": 18, "4K": 24 },
    },
    // additionalProperties: the answer's serializer would otherwise drop every field of these two.
    inputSchema: { type: "object", additionalProperties: true, description: "JSON Schema of `input` as a client sends it (before defaults)." },
    defaults: { type: "object", additionalProperties: true, description: "The value each optional input field takes when it is not sent." },
    limits: {
      type: "object",
      required: ["promptMaxCharacters", "inputImages", "ratios", "resolutions", "ratiosOnlyAt1K"],
      properties: {
        promptMaxCharacters: { type: "integer", example: 20000 },
        inputImages: {
          type: ["object", "null"],
          description: "Reference images accepted; null for a text-only model.",
          properties: { min: { type: "integer" }, max: { type: "integer" } },
        },
        ratios: { type: "array", items: { type: "string" }, description: "The aspect ratios accepted, `auto` included where offered." },
        resolutions: { type: "array", items: resolutionEnum, description: "The resolutions produced; the first is the default." },
        ratiosOnlyAt1K: { type: "array", items: { type: "string" }, description: "Ratios offered only at resolution 1K." },
      },
    },
    resultSizes: {
      type: "object",
      additionalProperties: { type: "object", additionalProperties: { type: "string" } },
      description: "WIDTHxHEIGHT per resolution and aspect ratio. `auto` is square without input images and takes their shape with them.",
      example: { "1K": { "1:1": "1024x1024", "16:9": "1376x768" } },
    },
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
