import { randomUUID } from "node:crypto";
import type { Clock } from "../clock.ts";
import { failure, success, type Failure, type Result } from "../errors.ts";
import { sniffImageType } from "./image-type.ts";
import { FILE_NAME_RULE, isValidFileName, isValidUploadPath, UPLOAD_PATH_RULE, type UploadRepository } from "./upload.ts";

/** Where upload bytes live; the blob store is one. */
export interface UploadFiles {
  put(key: string, bytes: Buffer, contentType: string): Promise<unknown>;
  delete(key: string): Promise<void>;
}

export interface UploadLimits {
  /** UPLOAD_MAX_BYTES. */
  maxBytes: number;
  /** UPLOAD_ACCOUNT_MAX_BYTES. */
  accountMaxBytes: number;
  /** UPLOAD_RETENTION_DAYS in ms. */
  retentionMs: number;
}

/** Where an upload goes, as the client named it (fileName null: a random name). */
export interface Placement {
  uploadPath: string;
  fileName: string | null;
}

export interface StoredUpload {
  fileName: string;
  filePath: string;
  /** The storage key, below which the file is served. */
  key: string;
  fileSize: number;
  mimeType: string;
  uploadedAt: number;
  expiresAt: number;
}

const SWEEP_BATCH = 500;

/** The top-level storage folder of every upload, which the results' sweep leaves alone. */
export const UPLOADS_FOLDER = "uploads";

/** The storage key of an account's upload; uploads of different accounts never share one. */
export function uploadKey(accountId: string, filePath: string): string {
  return `${UPLOADS_FOLDER}/${accountId}/${filePath}`;
}

/** The two naming fields of every upload endpoint, or the 400 naming the one at fault. */
export function placementOf(uploadPath: unknown, fileName: unknown): Result<Placement> {
  if (uploadPath === undefined || uploadPath === null || uploadPath === "") return failure("BAD_REQUEST", "uploadPath is required");
  if (typeof uploadPath !== "string" || !isValidUploadPath(uploadPath)) return failure("BAD_REQUEST", UPLOAD_PATH_RULE);
  if (fileName === undefined || fileName === null || fileName === "") return success({ uploadPath, fileName: null });
  if (typeof fileName !== "string" || !isValidFileName(fileName)) return failure("BAD_REQUEST", FILE_NAME_RULE);
  return success({ uploadPath, fileName });
}

/**
 * Files an account uploads to use as inputs: sniffed to be images, kept UPLOAD_RETENTION_DAYS,
 * limited in size each and in bytes per account. The record is written before the file, so the
 * quota is decided in one transaction however many uploads arrive together.
 */
export class UploadService {
  constructor(
    private readonly repository: UploadRepository,
    private readonly files: UploadFiles,
    private readonly clock: Clock,
    readonly limits: UploadLimits,
  ) {}

  async store(accountId: string, placement: Placement, bytes: Buffer): Promise<Result<StoredUpload>> {
    if (bytes.length > this.limits.maxBytes) return this.tooLarge();
    if (bytes.length === 0) return failure("BAD_REQUEST", "The file is empty.");
    const type = sniffImageType(bytes);
    if (type === null) return failure("UNSUPPORTED_MEDIA_TYPE", "The file is not an image: only PNG, JPEG, WebP and GIF are accepted.");
    const fileName = placement.fileName ?? `${randomUUID()}.${type.extension}`;
    const filePath = `${placement.uploadPath}/${fileName}`;
    const now = this.clock.now();
    const upload = { accountId, filePath, bytes: bytes.length, mimeType: type.mimeType, createdAt: now, expiresAt: now + this.limits.retentionMs };
    const outcome = await this.repository.reserve(upload, this.limits.accountMaxBytes);
    if (outcome === "over-quota") {
      return failure(
        "INSUFFICIENT_STORAGE",
        `The account's uploads would pass ${this.limits.accountMaxBytes} bytes (UPLOAD_ACCOUNT_MAX_BYTES); wait for older uploads to expire.`,
      );
    }
    if (outcome === "path-conflict") {
      return failure("CONFLICT", `uploadPath and fileName ${filePath} name a folder or pass through a file of another upload.`);
    }
    const key = uploadKey(accountId, filePath);
    await this.files.put(key, bytes, type.mimeType);
    return success({ fileName, filePath, key, fileSize: bytes.length, mimeType: type.mimeType, uploadedAt: now, expiresAt: upload.expiresAt });
  }

  tooLarge(): Failure {
    return failure("PAYLOAD_TOO_LARGE", `The file must be at most ${this.limits.maxBytes} bytes (UPLOAD_MAX_BYTES).`);
  }

  /** Deletes uploads past their retention, record first; returns how many were deleted. */
  async deleteExpired(): Promise<number> {
    let deleted = 0;
    for (;;) {
      const batch = await this.repository.expired(this.clock.now(), SWEEP_BATCH);
      for (const upload of batch) {
        // Not when a new upload replaced the record meanwhile: its file is the new one.
        if (!(await this.repository.remove(upload))) continue;
        await this.files.delete(uploadKey(upload.accountId, upload.filePath));
        deleted += 1;
      }
      if (batch.length < SWEEP_BATCH) return deleted;
    }
  }
}
