import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import type { ApiContext } from "../context.ts";
import { registerAccountsRoutes } from "./accounts-routes.ts";
import { registerAdminAuthentication } from "./admin-authentication.ts";
import { registerCallbacksRoutes } from "./callbacks-routes.ts";
import { registerCreditsRoutes } from "./credits-routes.ts";
import { registerKeysRoutes } from "./keys-routes.ts";
import { registerLimitsRoutes } from "./limits-routes.ts";
import { registerTasksRoutes } from "./tasks-routes.ts";
import { registerUpstreamsRoutes } from "./upstreams-routes.ts";
import { registerUsageRoutes } from "./usage-routes.ts";
import { registerWebhookSecretRoutes } from "./webhook-secret-routes.ts";

/**
 * The operator's API, registered under /admin/v1: accounts, credits, keys, limits, tasks, usage,
 * webhook secrets, callback deliveries, the audit trail and the upstreams' figures, over the same domain services as the
 * CLI. Every change is made as "admin-api".
 */
export function adminApi(context: ApiContext): FastifyPluginAsync {
  return async (admin: FastifyInstance) => {
    registerAdminAuthentication(admin, context.adminApiKey);
    registerAccountsRoutes(admin, context);
    registerCreditsRoutes(admin, context);
    registerKeysRoutes(admin, context);
    registerLimitsRoutes(admin, context);
    registerTasksRoutes(admin, context);
    registerUsageRoutes(admin, context);
    registerWebhookSecretRoutes(admin, context);
    registerCallbacksRoutes(admin, context);
    registerUpstreamsRoutes(admin, context);
  };
}
