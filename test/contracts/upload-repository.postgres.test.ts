import { postgresStorage } from "../helpers/stores.ts";
import { uploadRepositoryContract } from "./upload-repository.contract.ts";

uploadRepositoryContract("PostgresUploadRepository", postgresStorage());
