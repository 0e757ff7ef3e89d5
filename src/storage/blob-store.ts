import type { Readable } from "node:stream";

export interface StoredBlob {
  key: string;
  contentType: string;
  size: number;
  /** Strong entity tag, quoted, derived from the content. */
  etag: string;
  /** Epoch ms the blob was written. */
  createdAt: number;
}

export interface PutOptions {
  /**
   * The caller will not touch `bytes`, nor any other view of their memory, after the call: a store
   * may take that memory instead of copying it (a local store hands it to its writing thread, and
   * `bytes` is left empty).
   */
  handOver?: boolean;
}

/** Inclusive byte offsets within a blob, as in HTTP's Range and Content-Range. */
export interface ByteRange {
  start: number;
  end: number;
}

/** A blob opened for reading: read it once, or close it unread. */
export interface OpenedBlob {
  blob: StoredBlob;
  /** The blob's bytes, or those of `range` (within 0 to size - 1); the stream releases the blob when it ends or is destroyed. */
  read(range?: ByteRange): Readable;
  /** Releases the blob without reading it. */
  close(): Promise<void>;
}

/** Where result files live. Keys are relative, slash-separated paths without `..`. */
export interface BlobStore {
  put(key: string, bytes: Buffer, contentType: string, options?: PutOptions): Promise<StoredBlob>;
  /** null when no such blob exists (deleted by retention, or never written). */
  open(key: string): Promise<OpenedBlob | null>;
  delete(key: string): Promise<void>;
  /**
   * Removes blobs written before `before` (epoch ms); returns how many were removed. Keys under
   * the top-level folders named in `except` are left alone: they have a retention of their own.
   */
  deleteOlderThan(before: number, except?: readonly string[]): Promise<number>;
}

/**
 * A store whose blobs can be fetched straight from the backend at a URL of its own, so result
 * downloads need not pass through imagegate (S3_RESULT_URLS=presigned). Kept out of BlobStore:
 * the local store has no such URL, and the server asks for it only where configured.
 */
export interface PresignedBlobUrls {
  /** A URL that fetches the blob without credentials until `expiresInSeconds` from now. */
  presignedUrl(key: string, expiresInSeconds: number): Promise<string>;
}

export function canPresign(store: BlobStore): store is BlobStore & PresignedBlobUrls {
  return typeof (store as Partial<PresignedBlobUrls>).presignedUrl === "function";
}
