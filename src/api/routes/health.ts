import type { FastifyInstance } from "fastify";
import { sameSecret } from "../admin/admin-authentication.ts";
import type { ApiContext } from "../context.ts";
import { envelopeSchema, errorResponseSchema, fail } from "../envelope.ts";

const BEARER = /^Bearer\s+(\S+)\s*$/i;

const checksSchema = {
  type: "object",
  required: ["checks"],
  properties: {
    checks: {
      type: "array",
      items: {
        type: "object",
        required: ["name", "ok"],
        properties: {
          name: { type: "string", example: "database" },
          ok: { type: "boolean" },
          reason: { type: "string" },
          informational: { type: "boolean", description: "Shown for information: does not make the server unready (an upstream among several)." },
          circuit: { type: "string", enum: ["closed", "open", "half-open"], description: "An upstream's circuit state (UPSTREAMS_FILE)." },
        },
      },
    },
  },
};

export function registerHealth(app: FastifyInstance, context: ApiContext): void {
  app.get(
    "/healthz",
    {
      schema: {
        operationId: "getHealth",
        summary: "Liveness: the process answers",
        tags: ["health"],
        response: {
          200: envelopeSchema({ type: "object", required: ["status"], properties: { status: { type: "string", enum: ["ok"] } } }, "Alive."),
        },
      },
    },
    async (_request, reply) => reply.send({ code: 200, msg: "success", data: { status: "ok" } }),
  );
  app.get(
    "/readyz",
    {
      schema: {
        operationId: "getReadiness",
        summary: "Readiness: the database and image providers can serve",
        tags: ["health"],
        response: {
          200: envelopeSchema(checksSchema, "Ready: every check passed."),
          503: envelopeSchema(checksSchema, "Not ready: msg is \"Not ready.\" and the failing checks have ok false."),
        },
      },
    },
    async (_request, reply) => {
      const checks = await Promise.all(
        context.readiness.map(async (readiness) => {
          const informational = readiness.informational === true ? { informational: true } : {};
          try {
            return { name: readiness.name, ...(await readiness.check()), ...informational };
          } catch {
            return { name: readiness.name, ok: false, reason: "check failed", ...informational };
          }
        }),
      );
      const ready = checks.every((check) => check.ok || check.informational === true);
      const status = ready ? 200 : 503;
      return reply.code(status).send({ code: status, msg: ready ? "success" : "Not ready.", data: { checks } });
    },
  );

  const token = context.metricsToken;
  app.get(
    "/metrics",
    {
      schema: {
        operationId: "getMetrics",
        summary: "Metrics in the Prometheus text format",
        tags: ["health"],
        description: "With METRICS_TOKEN set, requires Authorization: Bearer <METRICS_TOKEN>.",
        response: {
          200: { description: "Prometheus text exposition format 0.0.4.", content: { "text/plain": { schema: { type: "string" } } } },
          401: errorResponseSchema("METRICS_TOKEN is set and the request's bearer token is missing or not it."),
        },
      },
    },
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
