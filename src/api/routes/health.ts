import type { FastifyInstance } from "fastify";
import type { ApiContext } from "../context.ts";

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

  app.get(
    "/metrics",
    { schema: { summary: "Metrics in the Prometheus text format", tags: ["health"], produces: ["text/plain"] } },
    async (_request, reply) =>
      reply.header("Content-Type", "text/plain; version=0.0.4; charset=utf-8").send(context.metrics.render()),
  );
}
