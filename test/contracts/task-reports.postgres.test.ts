import { postgresStorage } from "../helpers/stores.ts";
import { taskReportsContract } from "./task-reports.contract.ts";

taskReportsContract("PostgresReports", postgresStorage());
