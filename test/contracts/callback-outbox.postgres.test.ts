import { postgresStorage } from "../helpers/stores.ts";
import { callbackOutboxContract } from "./callback-outbox.contract.ts";

callbackOutboxContract("PostgresCallbackOutbox", postgresStorage());
