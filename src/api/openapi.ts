import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";
import type { ApiContext } from "./context.ts";

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
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
}
