import { sql, type Expression, type Kysely, type RawBuilder } from "kysely";
import type { AccountTaskQuery, TaskFilter, TaskReports, UsageRow } from "../domain/tasks/reports.ts";
import { TASK_STATES, type Task, type TaskState } from "../domain/tasks/task.ts";
import { idTimeBound } from "../domain/ids.ts";
import type { Database } from "./schema.ts";
import { toTask } from "./task-rows.ts";

/**
 * Operator queries, built with Kysely: their filters vary, and none of them is on a hot path. One
 * implementation serves both databases; only how a creation time becomes its UTC day differs.
 */
export class KyselyTaskReports implements TaskReports {
  constructor(
    private readonly db: Kysely<Database>,
    /** The UTC day, YYYY-MM-DD, of tasks.create_time, in the database's own SQL. */
    private readonly utcDay: RawBuilder<string>,
    /**
     * A column as a filter to check on rows an index found, never as the index to find them by:
     * where the planner cannot tell by itself which of two indexes reads fewer rows.
     */
    private readonly checkedOnly: (column: "state" | "model") => Expression<string> = (column) => sql.ref(column),
  ) {}

  async listTasks(filter: TaskFilter): Promise<Task[]> {
    // Ids begin with the creation time, so id order is creation order and time bounds are id bounds.
    let query = this.db.selectFrom("tasks").selectAll().orderBy("id", "desc").limit(filter.limit);
    if (filter.accountId !== undefined) query = query.where("account_id", "=", filter.accountId);
    if (filter.state !== undefined) query = query.where("state", "=", filter.state);
    if (filter.since !== undefined) query = query.where("id", ">=", idTimeBound("task", filter.since));
    if (filter.until !== undefined) query = query.where("id", "<", idTimeBound("task", filter.until));
    const rows = await query.execute();
    return rows.map(toTask);
  }

  async listAccountTasks(query: AccountTaskQuery): Promise<Task[]> {
    const rows = await this.accountTasksQuery(query).execute();
    return rows.map(toTask);
  }

  /** The statement listAccountTasks runs: exposed so that tests can have its plan explained. */
  accountTasksQuery(query: AccountTaskQuery) {
    // (account_id, id), (account_id, state, id) and (account_id, model, id) each give the page in
    // id order, so a page reads about as many entries as it answers.
    let select = this.db
      .selectFrom("tasks")
      .selectAll()
      .where("account_id", "=", query.accountId)
      .orderBy("id", "desc")
      .limit(query.limit);
    if (query.beforeId !== undefined) select = select.where("id", "<", query.beforeId);
    const { state, model } = query;
    if (state !== undefined && model !== undefined) {
      // One index leads and the other filter is checked on what it reads. A successful task is the
      // common case, within which a model is the narrower set; an active state holds few tasks
      // (the active limit bounds them), and failed ones are a minority.
      select =
        state === "success"
          ? select.where("model", "=", model).where(this.checkedOnly("state"), "=", state)
          : select.where("state", "=", state).where(this.checkedOnly("model"), "=", model);
    } else if (state !== undefined) select = select.where("state", "=", state);
    else if (model !== undefined) select = select.where("model", "=", model);
    return select;
  }

  async usage(filter: Omit<TaskFilter, "state" | "limit">): Promise<UsageRow[]> {
    const day = this.utcDay;
    let query = this.db
      .selectFrom("tasks")
      .innerJoin("accounts", "accounts.id", "tasks.account_id")
      .select([
        day.as("day"),
        "tasks.account_id as accountId",
        "accounts.name as accountName",
        "tasks.state as state",
        "tasks.model as model",
        (expression) => expression.fn.countAll<number>().as("count"),
        sql<number>`sum(case when tasks.state = 'success' then tasks.credits_held else 0 end)`.as("spent"),
      ])
      .groupBy([day, "tasks.account_id", "accounts.name", "tasks.state", "tasks.model"])
      .orderBy("day")
      .orderBy("accounts.name");
    if (filter.accountId !== undefined) query = query.where("tasks.account_id", "=", filter.accountId);
    if (filter.since !== undefined) query = query.where("tasks.id", ">=", idTimeBound("task", filter.since));
    if (filter.until !== undefined) query = query.where("tasks.id", "<", idTimeBound("task", filter.until));
    const rows = await query.execute();
    const byDayAndAccount = new Map<string, UsageRow>();
    for (const row of rows) {
      const key = `${row.day}\u0000${row.accountId}`;
      let usage = byDayAndAccount.get(key);
      if (usage === undefined) {
        usage = {
          day: row.day,
          accountId: row.accountId,
          accountName: row.accountName,
          tasks: Object.fromEntries(TASK_STATES.map((state) => [state, 0])) as Record<TaskState, number>,
          creditsSpent: 0,
          models: {},
        };
        byDayAndAccount.set(key, usage);
      }
      usage.tasks[row.state as TaskState] += Number(row.count);
      usage.creditsSpent += Number(row.spent);
      const model = (usage.models[row.model] ??= { tasks: 0, creditsSpent: 0 });
      model.tasks += Number(row.count);
      model.creditsSpent += Number(row.spent);
    }
    return [...byDayAndAccount.values()];
  }
}
