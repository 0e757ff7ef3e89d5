import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.ts";
import { KyselyTaskReports } from "./task-reports.ts";

/** The operator queries on the embedded database. */
export class SqliteReports extends KyselyTaskReports {
  constructor(db: Kysely<Database>) {
    super(db, sql<string>`strftime('%Y-%m-%d', tasks.create_time / 1000, 'unixepoch')`);
  }
}
