import { openSqliteStorage } from "../helpers/stores.ts";
import { taskReportsContract } from "./task-reports.contract.ts";

taskReportsContract("SqliteReports", openSqliteStorage);
