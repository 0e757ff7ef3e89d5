import { sql } from "kysely";
import type { AccountTaskQuery, TaskFilter, UsageRow } from "../../domain/tasks/reports.ts";
import type { Task } from "../../domain/tasks/task.ts";
import { KyselyTaskReports } from "../task-reports.ts";
import { mapError, type PostgresDatabase } from "./connection.ts";

/**
 * The operator queries on PostgreSQL; a lost connection fails them as it fails every other
 * statement. Its planner picks between the task indexes by the statistics it keeps of each column.
 */
export class PostgresReports extends KyselyTaskReports {
  constructor(database: PostgresDatabase) {
    super(database.kysely, sql<string>`to_char(to_timestamp(tasks.create_time / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')`);
  }

  override async listTasks(filter: TaskFilter): Promise<Task[]> {
    return super.listTasks(filter).catch((error: unknown) => Promise.reject(mapError(error)));
  }

  override async listAccountTasks(query: AccountTaskQuery): Promise<Task[]> {
    return super.listAccountTasks(query).catch((error: unknown) => Promise.reject(mapError(error)));
  }

  override async usage(filter: Omit<TaskFilter, "state" | "limit">): Promise<UsageRow[]> {
    return super.usage(filter).catch((error: unknown) => Promise.reject(mapError(error)));
  }
}
