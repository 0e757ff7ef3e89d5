import path from "node:path";
import type { Config } from "../config.ts";
import type { Clock } from "../domain/clock.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import { LocalBlobStore } from "../storage/local-blob-store.ts";

/** The configured file store, with what the server needs of it beside the port. */
export interface Blobs {
  store: BlobStore;
  /** Resolves when the store can be reached; rejects with why not (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Result files and uploads: under DATA_DIR/results, or in the bucket BLOB_STORE=s3 names. */
export async function openBlobs(config: Config, clock: Clock): Promise<Blobs> {
  if (config.s3 !== null) {
    // Loaded only when configured: the AWS SDK is large, and the embedded default needs none of it.
    const { S3BlobStore } = await import("../storage/s3-blob-store.ts");
    const store = new S3BlobStore(config.s3, { clock });
    return { store, ping: () => store.ping(), close: () => store.close() };
  }
  const store = new LocalBlobStore({ root: path.join(config.dataDir, "results"), clock });
  return { store, ping: () => Promise.resolve(), close: () => store.close() };
}
