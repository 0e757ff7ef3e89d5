import { openSqliteStorage } from "../helpers/stores.ts";
import { accountRepositoryContract } from "./account-repository.contract.ts";

accountRepositoryContract("SqliteAccountRepository", openSqliteStorage);
