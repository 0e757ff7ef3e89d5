import { openSqliteStorage } from "../helpers/stores.ts";
import { callbackOutboxContract } from "./callback-outbox.contract.ts";

callbackOutboxContract("SqliteCallbackOutbox", openSqliteStorage);
