import type { FastifyInstance } from "fastify";
import type { Catalog } from "../../domain/catalog/catalog.ts";
import { failure, success, type Result } from "../../domain/errors.ts";
import type { AccountTaskQuery } from "../../domain/tasks/reports.ts";
import { TASK_STATES, toRecord } from "../../domain/tasks/task.ts";
import type { ApiContext } from "../context.ts";
import { fail, ok } from "../envelope.ts";
import { pageOf, pageQueryProperties, pageSchema, readPageRequest } from "../paging.ts";
import { queryText } from "../request-values.ts";
import { callerOf } from "../request-fields.ts";
import { taskRecordSchema } from "./record-info.ts";
import { accountRoute } from "./account-route.ts";

const LIST = "jobs";
const TASK_ID = /^task_[0-9a-z]{26}$/;

function readFilters(query: unknown, catalog: Catalog): Result<Pick<AccountTaskQuery, "state" | "model">> {
  const filters: Pick<AccountTaskQuery, "state" | "model"> = {};
  const state = queryText(query, "state");
  if (!state.ok) return state;
  if (state.value !== undefined) {
    const known = TASK_STATES.find((candidate) => candidate === state.value);
    if (known === undefined) return failure("VALIDATION_FAILED", `state must be one of ${TASK_STATES.join(", ")}`);
    filters.state = known;
  }
  const model = queryText(query, "model");
  if (!model.ok) return model;
  if (model.value !== undefined) {
    const ids = catalog.list().map((candidate) => candidate.id);
    if (!ids.includes(model.value)) return failure("VALIDATION_FAILED", `model must be one of ${ids.join(", ")}`);
    filters.model = model.value;
  }
  return success(filters);
}

export function registerListJobs(api: FastifyInstance, context: ApiContext): void {
  api.get(
    "/jobs",
    accountRoute({
      operationId: "listJobs",
      summary: "List the account's tasks, newest first",
      description:
        "Each task as recordInfo answers it. Pages hold `limit` tasks; pass `nextCursor` as `cursor` for the next, until it is null. Tasks created meanwhile appear on a new first page, not between pages.",
      tag: "tasks",
      querystring: {
        type: "object",
        properties: {
          state: { type: "string", enum: [...TASK_STATES], description: "Only tasks in this state now." },
          model: { type: "string", description: "Only tasks of this model (an id of GET /api/v1/models)." },
          ...pageQueryProperties,
        },
      },
      data: pageSchema(taskRecordSchema, "The tasks, newest first."),
      errors: {
        400: "A parameter is given more than once.",
        422: "state, model, limit or cursor is not one of the values accepted; msg names it.",
      },
    }),
    async (request, reply) => {
      const filters = readFilters(request.query, context.catalog);
      if (!filters.ok) return fail(reply, filters.code, filters.message);
      const page = readPageRequest(request.query, LIST, (key) => TASK_ID.test(key));
      if (!page.ok) return fail(reply, page.code, page.message);
      const tasks = await context.reports.listAccountTasks({
        accountId: callerOf(request).accountId,
        ...filters.value,
        ...(page.value.after === undefined ? {} : { beforeId: page.value.after }),
        limit: page.value.limit + 1,
      });
      return ok(reply, pageOf(tasks, page.value, LIST, (task) => task.id, toRecord));
    },
  );
}
