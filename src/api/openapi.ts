import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";
import { STATUS_CODES } from "node:http";
import type { ApiContext } from "./context.ts";
import { errorEnvelopeSchema } from "./envelope.ts";

interface DocumentResponse {
  description?: string;
  content?: Record<string, { schema?: { properties?: Record<string, unknown> }; example?: unknown }>;
}
type DocumentPaths = Record<string, Record<string, { responses?: Record<string, DocumentResponse> }>>;

/**
 * Gives each error answer an example with its own status, which the docs page shows: generated
 * from the shared schema alone, every example would read `"code": 0`.
 */
function withErrorExamples<T extends { paths?: unknown }>(document: T): T {
  const paths = (document.paths ?? {}) as DocumentPaths;
  for (const operations of Object.values(paths)) {
    for (const operation of Object.values(operations)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const json = response.content?.["application/json"];
        if (Number(status) < 400 || json?.schema?.properties?.code === undefined || json.example !== undefined) continue;
        const described = response.description !== undefined && response.description !== errorEnvelopeSchema.description;
        json.example = { code: Number(status), msg: described ? response.description : (STATUS_CODES[Number(status)] ?? "Error"), data: null };
      }
    }
  }
  return document;
}

/** /openapi.json and /docs, generated from the route schemas the server is built with. */
export async function registerOpenApi(app: FastifyInstance, context: ApiContext): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "imagegate",
        version: "1",
        description:
          "Asynchronous image generation: create a task, poll recordInfo (or receive a callback), download the image. Every /api/v1 response is the envelope {code, msg, data}.",
      },
      // The page's own origin first: "Try it out" then works whatever host name /docs was opened
      // on, without a cross-origin request; the public base URL is there for generated clients.
      servers: [
        { url: "/", description: "This server, at the address this document was read from." },
        { url: context.publicBaseUrl, description: "PUBLIC_BASE_URL" },
      ],
      components: {
        securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", description: "An imagegate API key: ig_live_... or ig_test_..." } },
      },
    },
    transformObject: (document) => ("openapiObject" in document ? withErrorExamples(document.openapiObject) : document.swaggerObject),
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
}
