/** One stored upload: the file `<uploadPath>/<fileName>` of an account. */
export interface Upload {
  accountId: string;
  /** `<uploadPath>/<fileName>`, unique per account. */
  filePath: string;
  bytes: number;
  mimeType: string;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms after which the upload is gone. */
  expiresAt: number;
}

export type ReserveOutcome = "reserved" | "over-quota" | "path-conflict";

export interface UploadRepository {
  /**
   * Records `upload`, replacing the account's upload at the same path, unless the account's other
   * live uploads and this one would together pass `accountMaxBytes` ("over-quota"), or the path
   * names a folder of another upload or passes through one's file ("path-conflict").
   */
  reserve(upload: Upload, accountMaxBytes: number): Promise<ReserveOutcome>;
  /** Removes the record unless a later upload has replaced it meanwhile. */
  remove(upload: Pick<Upload, "accountId" | "filePath" | "expiresAt">): Promise<boolean>;
  /** Up to `limit` uploads expired at `now`, oldest first. */
  expired(now: number, limit: number): Promise<Upload[]>;
  /** The account's live bytes at `now`. */
  bytesOf(accountId: string, now: number): Promise<number>;
}

const UPLOAD_PATH = /^[A-Za-z0-9\-_./]{1,200}$/;
const FILE_NAME = /^[A-Za-z0-9\-_.]{1,100}$/;

export const UPLOAD_PATH_RULE =
  "uploadPath must be 1 to 200 characters of letters, digits, - _ . / without a leading or trailing slash or .., and no part of it may be empty or start with a dot";
export const FILE_NAME_RULE =
  "fileName must be 1 to 100 characters of letters, digits, - _ . that does not start with a dot or end in .meta.json";

/**
 * Both become parts of a storage key and of a signed URL path, so each part is kept to what both
 * carry unchanged: no empty parts, none starting with a dot (which also rules out ..).
 */
export function isValidUploadPath(value: string): boolean {
  return UPLOAD_PATH.test(value) && value.split("/").every((part) => part !== "" && !part.startsWith("."));
}

export function isValidFileName(value: string): boolean {
  // Names ending in .meta.json hold the storage's own metadata beside each file.
  return FILE_NAME.test(value) && !value.startsWith(".") && !value.endsWith(".meta.json");
}
