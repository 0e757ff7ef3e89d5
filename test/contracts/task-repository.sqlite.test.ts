import { openSqliteStorage } from "../helpers/stores.ts";
import { taskRepositoryContract } from "./task-repository.contract.ts";

taskRepositoryContract("SqliteTaskRepository", openSqliteStorage);
