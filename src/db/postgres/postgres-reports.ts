import { sql } from "kysely";
import { KyselyTaskReports } from "../task-reports.ts";
import type { PostgresDatabase } from "./connection.ts";

/** The operator queries on PostgreSQL. */
export class PostgresReports extends KyselyTaskReports {
  constructor(database: PostgresDatabase) {
    super(database.kysely, sql<string>`to_char(to_timestamp(tasks.create_time / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')`);
  }
}
