import { postgresStorage } from "../helpers/stores.ts";
import { accountRepositoryContract } from "./account-repository.contract.ts";

accountRepositoryContract("PostgresAccountRepository", postgresStorage());
