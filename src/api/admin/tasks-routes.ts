import type { FastifyInstance } from "fastify";
import { failure, success, type Result } from "../../domain/errors.ts";
import type { TaskFilter } from "../../domain/tasks/reports.ts";
import { TASK_STATES, type TaskState } from "../../domain/tasks/task.ts";
import type { ApiContext } from "../context.ts";
import { fail, ok } from "../envelope.ts";
import { taskRecordSchema } from "../routes/record-info.ts";
import { adminRoute } from "./admin-route.ts";
import { accountIdFromQuery, parseCount, queryText, readTimeRange } from "../request-values.ts";
import { adminTaskView } from "../../views/operator-views.ts";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;

const adminTaskSchema = {
  ...taskRecordSchema,
  properties: {
    ...taskRecordSchema.properties,
    accountId: { type: "string" },
    accountName: { type: ["string", "null"] },
    apiKeyId: { type: ["string", "null"] },
    mode: { type: "string", enum: ["live", "test"] },
    callBackUrl: { type: ["string", "null"] },
    creditsHeld: { type: "number" },
    attempts: { type: "number" },
    upstreamAttempts: { type: "number" },
    deadlineTime: { type: "number" },
  },
};

const timeDescription = "ISO-8601 (2026-05-01T00:00:00Z) or epoch ms, of the task's creation";

async function readTaskFilter(query: unknown, context: ApiContext): Promise<Result<TaskFilter>> {
  const filter: TaskFilter = { limit: DEFAULT_LIMIT };
  const account = await accountIdFromQuery(query, context.accounts);
  if (!account.ok) return account;
  if (account.value !== undefined) filter.accountId = account.value;
  const state = queryText(query, "state");
  if (!state.ok) return state;
  if (state.value !== undefined) {
    const known = TASK_STATES.find((candidate) => candidate === state.value);
    if (known === undefined) return failure("VALIDATION_FAILED", `state must be one of ${TASK_STATES.join(", ")}`);
    filter.state = known satisfies TaskState;
  }
  const range = readTimeRange(query);
  if (!range.ok) return range;
  const limitText = queryText(query, "limit");
  if (!limitText.ok) return limitText;
  const limit = parseCount("limit", limitText.value, DEFAULT_LIMIT, MAX_LIMIT);
  if (!limit.ok) return limit;
  return success({ ...filter, ...range.value, limit: limit.value });
}

export function registerTasksRoutes(admin: FastifyInstance, context: ApiContext): void {
  admin.get(
    "/tasks",
    adminRoute({
      operationId: "adminListTasks",
      summary: "List tasks, newest first",
      querystring: {
        type: "object",
        properties: {
          account: { type: "string", description: "Account name or id." },
          state: { type: "string", enum: [...TASK_STATES] },
          since: { type: "string", description: `Inclusive; ${timeDescription}.` },
          until: { type: "string", description: `Exclusive; ${timeDescription}.` },
          limit: { type: "integer", minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT },
        },
      },
      data: { type: "array", items: adminTaskSchema },
      errors: [400, 404, 422],
    }),
    async (request, reply) => {
      const filter = await readTaskFilter(request.query, context);
      if (!filter.ok) return fail(reply, filter.code, filter.message);
      const tasks = await context.reports.listTasks(filter.value);
      const names = new Map((await context.accounts.listAccounts()).map((account) => [account.id, account.name]));
      return ok(reply, tasks.map((task) => adminTaskView(task, names.get(task.accountId) ?? null)));
    },
  );

  admin.get<{ Params: { taskId: string } }>(
    "/tasks/:taskId",
    adminRoute({
      operationId: "adminGetTask",
      summary: "Show any account's task",
      params: { type: "object", required: ["taskId"], properties: { taskId: { type: "string" } } },
      data: adminTaskSchema,
      errors: [404],
    }),
    async (request, reply) => {
      const task = await context.tasks.getById(request.params.taskId);
      if (task === null) return fail(reply, "NOT_FOUND", `no task with taskId ${request.params.taskId}`);
      const account = await context.accounts.findAccount(task.accountId);
      return ok(reply, adminTaskView(task, account?.name ?? null));
    },
  );
}
