import type { ReserveOutcome, Upload, UploadRepository } from "../../domain/uploads/upload.ts";
import { toUpload, type UploadRow } from "../upload-rows.ts";
import type { NamedStatement, PostgresDatabase } from "./connection.ts";

const statement = (name: string, text: string): NamedStatement => ({ name: `upload_${name}`, text });

/**
 * The first key of the advisory locks that serialize one account's reservations (the second is
 * the account id's hash): a key space of its own, apart from the migration lock's single key.
 */
const RESERVATION_LOCK_CLASS = 0x75706c64;

const STATEMENTS = {
  lockAccount: statement("lock_account", "SELECT pg_advisory_xact_lock($1, hashtext($2))"),
  /**
   * Whether the path clashes with another upload (a file "a/b" and a file "a/b/c" cannot both
   * exist: one would be a folder; '0' follows '/'), and the account's other live bytes: the file
   * being replaced is not counted, so an overwrite counts once.
   */
  check: statement(
    "check",
    `SELECT
       EXISTS (SELECT 1 FROM uploads WHERE account_id = $1 AND file_path > $2 || '/' AND file_path < $2 || '0')
         OR EXISTS (SELECT 1 FROM uploads WHERE account_id = $1 AND file_path = ANY($3::text[])) AS conflict,
       (SELECT coalesce(sum(bytes), 0) FROM uploads WHERE account_id = $1 AND expires_at > $4 AND file_path <> $2) AS others`,
  ),
  upsert: statement(
    "upsert",
    `INSERT INTO uploads (account_id, file_path, bytes, mime_type, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (account_id, file_path) DO UPDATE SET
       bytes = excluded.bytes, mime_type = excluded.mime_type, created_at = excluded.created_at, expires_at = excluded.expires_at`,
  ),
  remove: statement("remove", "DELETE FROM uploads WHERE account_id = $1 AND file_path = $2 AND expires_at = $3"),
  expired: statement("expired", "SELECT * FROM uploads WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2"),
  liveBytes: statement("live_bytes", "SELECT coalesce(sum(bytes), 0) AS bytes FROM uploads WHERE account_id = $1 AND expires_at > $2"),
};

/** Upload records on PostgreSQL, shared by every API process. */
export class PostgresUploadRepository implements UploadRepository {
  constructor(private readonly database: PostgresDatabase) {}

  /**
   * Checked and written in one transaction holding the account's advisory lock, so uploads arriving
   * together at any processes cannot pass the quota between them: a row lock cannot serve, since
   * the rows that would be locked may not exist yet.
   */
  reserve(upload: Upload, accountMaxBytes: number): Promise<ReserveOutcome> {
    return this.database.transaction(async (client): Promise<ReserveOutcome> => {
      const { accountId, filePath } = upload;
      await client.query(STATEMENTS.lockAccount.text, [RESERVATION_LOCK_CLASS, accountId]);
      const parts = filePath.split("/");
      const folders = parts.slice(1).map((_, index) => parts.slice(0, index + 1).join("/"));
      const { rows } = await client.query<{ conflict: boolean; others: number }>(STATEMENTS.check.text, [
        accountId,
        filePath,
        folders,
        upload.createdAt,
      ]);
      const check = rows[0];
      if (check === undefined || check.conflict) return "path-conflict";
      if (check.others + upload.bytes > accountMaxBytes) return "over-quota";
      await client.query(STATEMENTS.upsert.text, [
        accountId,
        filePath,
        upload.bytes,
        upload.mimeType,
        upload.createdAt,
        upload.expiresAt,
      ]);
      return "reserved";
    });
  }

  async remove(upload: Pick<Upload, "accountId" | "filePath" | "expiresAt">): Promise<boolean> {
    const { rowCount } = await this.database.query(STATEMENTS.remove, [upload.accountId, upload.filePath, upload.expiresAt]);
    return rowCount === 1;
  }

  async expired(now: number, limit: number): Promise<Upload[]> {
    const { rows } = await this.database.query<UploadRow>(STATEMENTS.expired, [now, limit]);
    return rows.map(toUpload);
  }

  async bytesOf(accountId: string, now: number): Promise<number> {
    const { rows } = await this.database.query<{ bytes: number }>(STATEMENTS.liveBytes, [accountId, now]);
    return rows[0]?.bytes ?? 0;
  }
}
