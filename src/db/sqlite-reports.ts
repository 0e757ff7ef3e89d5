import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.ts";
import { KyselyTaskReports } from "./task-reports.ts";

/** The operator queries on the embedded database. */
export class SqliteReports extends KyselyTaskReports {
  constructor(db: Kysely<Database>) {
    super(
      db,
      sql<string>`strftime('%Y-%m-%d', tasks.create_time / 1000, 'unixepoch')`,
      // SQLite keeps no statistics unless ANALYZE runs, and between two indexes of equal shape may
      // take the one that reads every task (a common model, a state none has: half a second for a
      // million); a unary + keeps a term from choosing the index.
      (column) => sql<string>`+${sql.ref(column)}`,
    );
  }
}
