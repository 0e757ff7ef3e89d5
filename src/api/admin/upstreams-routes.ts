import { hostname } from "node:os";
import type { FastifyInstance } from "fastify";
import type { ApiContext } from "../context.ts";
import { ok } from "../envelope.ts";
import { adminRoute } from "./admin-route.ts";

const nullableNumber = { type: ["number", "null"] };
const countMap = { type: "object", additionalProperties: { type: "number" } };

const circuitSchema = {
  type: ["object", "null"],
  description: "The upstream's circuit breaker; null where none watches it (the GEMINI_* configuration).",
  properties: {
    state: { type: "string", enum: ["closed", "open", "half-open"] },
    since: { type: "number", description: "Epoch ms the circuit entered this state." },
    nextProbeAt: { ...nullableNumber, description: "Epoch ms from which one probe task may try the upstream; null while closed." },
    probing: { type: "boolean", description: "The one probe of a half-open circuit is under way." },
    consecutiveFailures: { type: "number" },
    recentFailures: { type: "number", description: "Failures among the last minimumAttempts attempts." },
    recentAttempts: { type: "number" },
  },
};

const upstreamSchema = {
  type: "object",
  properties: {
    name: { type: "string", example: "gemini-eu" },
    kind: { type: "string", enum: ["gemini", "vertex", "openrouter", "fal", "replicate"] },
    models: { type: "object", additionalProperties: { type: "string" }, description: "Public model id to the upstream's model id." },
    circuit: circuitSchema,
    health: {
      type: "object",
      properties: { ok: { type: "boolean" }, reason: { type: "string" } },
      description: "What the upstream says of itself (a rejected key shows here).",
    },
    tasksServed: { type: "number", description: "Tasks whose image this upstream made." },
    tasksFailed: { type: "number", description: "Tasks that tried this upstream and did not get their image from it." },
    tasksSkipped: { type: "number", description: "Tasks a route passed over because the circuit was open." },
    attempts: { type: "number", description: "Upstream attempts, retries included." },
    outcomes: {
      ...countMap,
      description:
        "Attempts by outcome: success, content_policy, invalid_output, timeout, canceled, retryable_error, operator_error, provider_error, internal.",
    },
    latencyMs: {
      type: ["object", "null"],
      description: "Of the last 1,024 successful attempts; null before the first.",
      properties: { p50: { type: "number" }, p99: { type: "number" } },
    },
    inFlight: { type: "number", description: "Tasks on the upstream now, calling it or waiting for a slot." },
    maxConcurrency: { type: "number" },
    weight: { ...nullableNumber, description: "Share of a weighted route's first tries." },
    price: { ...nullableNumber, description: "USD per image, as configured; informational." },
  },
};

const upstreamsAnswerSchema = {
  type: "object",
  properties: {
    process: {
      type: "object",
      description: "The process that answered: the figures are its own, since it started. With ROLE=api and ROLE=worker, each worker keeps its own (see its /metrics).",
      properties: {
        host: { type: "string" },
        pid: { type: "number" },
        role: { type: "string", enum: ["all", "api", "worker"] },
        runsTasks: { type: "boolean", description: "false: this process calls no upstream, so its figures stay at zero." },
        uptimeSeconds: { type: "number" },
      },
    },
    source: {
      type: "string",
      enum: ["UPSTREAMS_FILE", "GEMINI_*", "sandbox"],
      description: "Where the upstreams are configured; sandbox: none (placeholder images).",
    },
    upstreams: { type: "array", items: upstreamSchema },
    routes: {
      type: "array",
      description: "Each public model's route (UPSTREAMS_FILE only).",
      items: {
        type: "object",
        properties: {
          model: { type: "string" },
          policy: { type: "string", enum: ["failover", "weighted"] },
          upstreams: { type: "array", items: { type: "string" } },
        },
      },
    },
  },
};

export function registerUpstreamsRoutes(admin: FastifyInstance, context: ApiContext): void {
  admin.get(
    "/upstreams",
    adminRoute({
      operationId: "adminListUpstreams",
      summary: "The upstreams, their circuits and figures",
      description:
        "Per upstream: tasks served, attempts and their outcomes, latency of successful attempts, circuit state, what is in flight, price. The figures are this process's, in memory since it started.",
      data: upstreamsAnswerSchema,
    }),
    async (_request, reply) => {
      const role = context.processRole ?? "all";
      return ok(reply, {
        process: { host: hostname(), pid: process.pid, role, runsTasks: role !== "api", uptimeSeconds: Math.round(process.uptime()) },
        source: context.upstreams?.source ?? "sandbox",
        upstreams: context.upstreams?.upstreams() ?? [],
        routes: context.upstreams?.routes() ?? [],
      });
    },
  );
}
