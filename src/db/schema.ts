import type { Generated } from "kysely";

export interface AccountsTable {
  id: string;
  name: string;
  created_at: number;
}

export interface ApiKeysTable {
  id: string;
  account_id: string;
  mode: "live" | "test";
  hash: string;
  /** The first characters of the key, enough to recognise it in a listing. */
  hint: string;
  created_at: number;
  revoked_at: number | null;
}

export interface TasksTable {
  id: string;
  account_id: string;
  api_key_id: string | null;
  mode: "live" | "test";
  model: string;
  state: string;
  param: string;
  input: string;
  callback_url: string | null;
  result_json: string | null;
  fail_code: string | null;
  fail_msg: string | null;
  create_time: number;
  update_time: number;
  complete_time: number | null;
  deadline_time: number;
  attempts: Generated<number>;
}

export interface Database {
  accounts: AccountsTable;
  api_keys: ApiKeysTable;
  tasks: TasksTable;
}
