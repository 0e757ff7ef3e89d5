import type { Upload } from "../domain/uploads/upload.ts";
import type { UploadsTable } from "./schema.ts";

/** A row as the database holds it: the table's own description. */
export type UploadRow = UploadsTable;

export function toUpload(row: UploadRow): Upload {
  return {
    accountId: row.account_id,
    filePath: row.file_path,
    bytes: row.bytes,
    mimeType: row.mime_type,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}
