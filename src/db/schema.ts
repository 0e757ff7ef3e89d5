import type { Generated } from "kysely";

export interface AccountsTable {
  id: string;
  name: string;
  created_at: number;
  credits: Generated<number>;
  active_task_limit: number | null;
  rate_limit_create_task: string | null;
  rate_limit_other: string | null;
  active_tasks: Generated<number>;
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
  /** What the account calls the key, if it gave a name. */
  name: string | null;
  last_used_at: number | null;
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
  upstream_attempts: Generated<number>;
  credits_held: Generated<number>;
}

export interface CreditLedgerTable {
  id: Generated<number>;
  account_id: string;
  task_id: string | null;
  kind: string;
  amount: number;
  balance_after: number;
  reason: string | null;
  actor: string | null;
  created_at: number;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: number;
  actor: string;
  action: string;
  target: string;
  details: string;
}

export interface Database {
  accounts: AccountsTable;
  api_keys: ApiKeysTable;
  tasks: TasksTable;
  credit_ledger: CreditLedgerTable;
  audit_log: AuditLogTable;
  uploads: UploadsTable;
}

export interface UploadsTable {
  account_id: string;
  file_path: string;
  bytes: number;
  mime_type: string;
  created_at: number;
  expires_at: number;
}
