import type SqliteDatabase from "better-sqlite3";
import type { ReserveOutcome, Upload, UploadRepository } from "../domain/uploads/upload.ts";
import { toUpload, type UploadRow } from "./upload-rows.ts";
import type { SqliteGroupCommit } from "./sqlite-group-commit.ts";

function prepareStatements(database: SqliteDatabase.Database) {
  const prepare = (sql: string) => database.prepare(sql);
  return {
    // The file being replaced is not counted: an overwrite counts once.
    liveBytesBesides: prepare(
      "SELECT coalesce(sum(bytes), 0) FROM uploads WHERE account_id = ? AND expires_at > ? AND file_path <> ?",
    ).pluck(),
    liveBytes: prepare("SELECT coalesce(sum(bytes), 0) FROM uploads WHERE account_id = ? AND expires_at > ?").pluck(),
    // A file "a/b" and a file "a/b/c" cannot both exist: one would be a folder. '0' follows '/'.
    pathsBelow: prepare("SELECT 1 FROM uploads WHERE account_id = ? AND file_path > ? AND file_path < ? LIMIT 1").pluck(),
    pathExists: prepare("SELECT 1 FROM uploads WHERE account_id = ? AND file_path = ?").pluck(),
    upsert: prepare(
      `INSERT INTO uploads (account_id, file_path, bytes, mime_type, created_at, expires_at)
       VALUES (@accountId, @filePath, @bytes, @mimeType, @createdAt, @expiresAt)
       ON CONFLICT (account_id, file_path) DO UPDATE SET
         bytes = excluded.bytes, mime_type = excluded.mime_type, created_at = excluded.created_at, expires_at = excluded.expires_at`,
    ),
    remove: prepare("DELETE FROM uploads WHERE account_id = ? AND file_path = ? AND expires_at = ?"),
    expired: prepare("SELECT * FROM uploads WHERE expires_at <= ? ORDER BY expires_at LIMIT ?"),
  };
}

/** Upload records on the embedded database; writes go through the group commit. */
export class SqliteUploadRepository implements UploadRepository {
  private readonly statements: ReturnType<typeof prepareStatements>;

  constructor(
    database: SqliteDatabase.Database,
    private readonly groupCommit: SqliteGroupCommit,
  ) {
    this.statements = prepareStatements(database);
  }

  reserve(upload: Upload, accountMaxBytes: number): Promise<ReserveOutcome> {
    // Checked and written in one transaction, so uploads arriving together cannot pass the quota.
    return this.groupCommit.submit((): ReserveOutcome => {
      const { accountId, filePath } = upload;
      if (this.statements.pathsBelow.get(accountId, `${filePath}/`, `${filePath}0`) !== undefined) return "path-conflict";
      const parts = filePath.split("/");
      for (let length = 1; length < parts.length; length += 1) {
        if (this.statements.pathExists.get(accountId, parts.slice(0, length).join("/")) !== undefined) return "path-conflict";
      }
      const others = this.statements.liveBytesBesides.get(accountId, upload.createdAt, filePath) as number;
      if (others + upload.bytes > accountMaxBytes) return "over-quota";
      this.statements.upsert.run(upload);
      return "reserved";
    });
  }

  remove(upload: Pick<Upload, "accountId" | "filePath" | "expiresAt">): Promise<boolean> {
    return this.groupCommit.submit(() => this.statements.remove.run(upload.accountId, upload.filePath, upload.expiresAt).changes > 0);
  }

  async expired(now: number, limit: number): Promise<Upload[]> {
    return (this.statements.expired.all(now, limit) as UploadRow[]).map(toUpload);
  }

  async bytesOf(accountId: string, now: number): Promise<number> {
    return this.statements.liveBytes.get(accountId, now) as number;
  }
}
