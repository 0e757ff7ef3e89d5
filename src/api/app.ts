import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from "fastify";
import { adminApi } from "./admin/index.ts";
import { DomainError } from "../domain/errors.ts";
import { pooledRandomBytes } from "../domain/ids.ts";
import { authenticator } from "./authentication.ts";
import type { ApiContext } from "./context.ts";
import { registerConsole } from "./console.ts";
import { registerCors } from "./cors.ts";
import { fail } from "./envelope.ts";
import { answerUnmetExpectations, frameworkErrorOptions, refuseWithoutHost } from "./framework-errors.ts";
import { BODY_LIMIT_BYTES, registerJsonBodyParser } from "./json-body.ts";
import { registerOpenApi } from "./openapi.ts";
import { rateLimitCheck, type RateClass } from "./rate-limiting.ts";
import { lazyRequestLogger } from "./request-logger.ts";
import { registerCancelTask } from "./routes/cancel-task.ts";
import { registerCreateTask } from "./routes/create-task.ts";
import { registerCredit } from "./routes/credit.ts";
import { registerDownloadUrl } from "./routes/download-url.ts";
import { registerStreamInfo } from "./routes/stream-info.ts";
import { registerFiles } from "./routes/files.ts";
import { registerHealth } from "./routes/health.ts";
import { registerListJobs } from "./routes/list-jobs.ts";
import { registerModels } from "./routes/models.ts";
import { registerOwnKeys } from "./routes/own-keys.ts";
import { registerOwnUsage } from "./routes/own-usage.ts";
import { registerOwnWebhookSecret } from "./routes/own-webhook-secret.ts";
import { registerRecordInfo } from "./routes/record-info.ts";
import { registerTaskCallbacks } from "./routes/task-callbacks.ts";
import { registerUploads } from "./routes/uploads.ts";
import { callerOf } from "./request-fields.ts";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Request ids need only be unique, not secret: a random prefix per process and a counter, which
 * costs nothing per request, unlike random bytes.
 */
function requestIds(): () => string {
  const prefix = `req_${pooledRandomBytes(6).toString("base64url")}`;
  let counter = 0;
  return () => {
    counter += 1;
    return `${prefix}${counter.toString(36)}`;
  };
}

export interface AppOptions {
  /** False in a worker process: it answers /healthz, /readyz and /metrics, and nothing else. */
  api: boolean;
}

export async function buildApp(context: ApiContext, options: AppOptions = { api: true }): Promise<FastifyInstance> {
  const nextRequestId = requestIds();
  const app = Fastify({
    loggerInstance: context.logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // One compact line per request is logged in onResponse instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // A caller's own request id is kept when it is sane, so logs on both sides line up.
    genReqId: (request) => {
      const given = request.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : nextRequestId();
    },
    childLoggerFactory: lazyRequestLogger,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    // Answers that no route makes (a bad URL, a request Node cannot parse) are envelopes too.
    ...frameworkErrorOptions(nextRequestId),
  });
  answerUnmetExpectations(app.server, nextRequestId);
  app.decorateRequest("caller", null);
  if (context.corsOrigins !== null) await registerCors(app, context.corsOrigins);

  registerJsonBodyParser(app);
  // Route schemas document the API; validation is the catalog's, whose messages name the field.
  app.setValidatorCompiler(() => () => true);

  // Callback hooks, not async ones: every request passes through both, and neither waits for
  // anything, so neither needs a promise.
  app.addHook("onRequest", (request, reply, done) => {
    reply.header("X-Request-Id", request.id);
    if (!refuseWithoutHost(request, reply)) done();
  });
  app.addHook("onResponse", (request, reply, done) => {
    // Read once: Fastify builds the route's options object anew at each read.
    const route = request.routeOptions.url;
    const elapsedMs = reply.elapsedTime;
    context.metrics.observeRequest(request.method, route, reply.statusCode, elapsedMs / 1000);
    // Through the server's logger with the id, so that requests which log nothing else never
    // make a child logger; and only when it is written (its fields cost a little to gather).
    if (context.logger.isLevelEnabled("info")) context.logger.info(
      { reqId: request.id, method: request.method, url: route ?? request.url, status: reply.statusCode, ms: Math.round(elapsedMs) },
      "request",
    );
    done();
  });

  app.setErrorHandler((error: FastifyError | DomainError, request, reply) => {
    if (error instanceof DomainError) return fail(reply, error.code, error.message);
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return fail(reply, "PAYLOAD_TOO_LARGE", "The request body must be at most 1 MiB.");
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return fail(reply, "BAD_REQUEST", "The request could not be read; send a JSON object body.");
    }
    request.log.error({ err: error }, "request failed");
    return fail(reply, "INTERNAL", `Internal server error (request id ${request.id})`);
  });
  app.setNotFoundHandler((request, reply) =>
    fail(reply, "NOT_FOUND", `There is no route ${request.method} ${request.url.split("?")[0] ?? ""}.`),
  );

  if (!options.api) {
    registerHealth(app, context);
    return app;
  }
  await registerOpenApi(app, context);
  registerHealth(app, context);
  registerFiles(app, context);
  // One hook runs first on every /api/v1 and /api upload route: the key (401), then its rate budget (429).
  // createTask's budget is its own, so it has a scope of its own, and the hook knows its budget
  // without looking at the request.
  const authenticate = authenticator(context.accounts, context.keyUsage);
  const guardedScope = (name: RateClass, register: (api: FastifyInstance) => void | Promise<void>, prefix = "/api/v1") =>
    app.register(
      async (api) => {
        const withinRateLimit = rateLimitCheck(context.rateLimiter, name, context.rateLimits[name]);
        api.addHook("onRequest", async (request, reply) => {
          if (!(await authenticate(request, reply))) return;
          await withinRateLimit(reply, callerOf(request));
        });
        await register(api);
      },
      { prefix },
    );
  await guardedScope("createTask", (api) => registerCreateTask(api, context));
  await guardedScope("other", (api) => {
    registerRecordInfo(api, context);
    registerCredit(api, context);
    registerCancelTask(api, context);
    registerStreamInfo(api, context);
    registerDownloadUrl(api, context);
    registerModels(api, context);
    // The account's own records, for a console: its tasks, their callbacks, keys, webhook secret, usage and ledger.
    registerListJobs(api, context);
    registerTaskCallbacks(api, context);
    registerOwnKeys(api, context);
    registerOwnWebhookSecret(api, context);
    registerOwnUsage(api, context);
  });
  // The hosted services' File Upload API sits beside /api/v1, on the same key and "other" budget.
  await guardedScope("other", (api) => registerUploads(api, context), "/api");
  await app.register(adminApi(context), { prefix: "/admin/v1" });
  await registerConsole(app);
  return app;
}
