import type { FastifyInstance } from "fastify";
import { sameSecret } from "../admin/admin-authentication.ts";
import type { ApiContext } from "../context.ts";
import { fail } from "../envelope.ts";

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function registerHealth(app: FastifyInstance, context: ApiContext): void {
  app.get("/healthz", { schema: { summary: "Liveness: the process answers", tags: ["health"] } }, async (_request, reply) =>
    reply.send({ code: 200, msg: "success", data: { status: "ok" } }),
  );
  app.get(
    "/readyz",
    { schema: { summary: "Readiness: the database and image providers can serve", tags: ["health"] } },
    async (_request, reply) => {
      const checks = await Promise.all(
        context.readiness.map(async (readiness) => {
          try {
            return { name: readiness.name, ...(await readiness.check()) };
          } catch {
            return { name: readiness.name, ok: false, reason: "check failed" };
          }
        }),
      );
      const ready = checks.every((check) => check.ok);
      const status = ready ? 200 : 503;
      return reply.code(status).send({ code: status, msg: ready ? "success" : "Not ready.", data: { checks } });
    },
  );

  const token = context.metricsToken;
  app.get(
    "/metrics",
    { schema: { summary: "Metrics in the Prometheus text format", tags: ["health"], produces: ["text/plain"] } },
    async (request, reply) => {
      if (token !== null) {
        const header = request.headers.authorization;
        const given = header === undefined ? undefined : BEARER.exec(header)?.[1];
        if (given === undefined || !sameSecret(given, token)) {
          reply.header("WWW-Authenticate", 'Bearer realm="imagegate-metrics"');
          return fail(
            reply,
            "UNAUTHORIZED",
            given === undefined
              ? "Authentication failed: send the header Authorization: Bearer <METRICS_TOKEN>."
              : "Authentication failed: the metrics token is not valid.",
          );
        }
      }
      return reply.header("Content-Type", context.metrics.contentType).send(await context.metrics.render());
    },
  );
}
