import { openSqliteStorage } from "../helpers/stores.ts";
import { uploadRepositoryContract } from "./upload-repository.contract.ts";

uploadRepositoryContract("SqliteUploadRepository", openSqliteStorage);
