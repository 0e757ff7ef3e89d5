import { postgresStorage } from "../helpers/stores.ts";
import { taskRepositoryContract } from "./task-repository.contract.ts";

taskRepositoryContract("PostgresTaskRepository", postgresStorage());
