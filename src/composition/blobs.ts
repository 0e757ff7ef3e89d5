import path from "node:path";
import type { Config } from "../config.ts";
import type { Clock } from "../domain/clock.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import { LocalBlobStore } from "../storage/local-blob-store.ts";
import { PresignedResultUrls } from "../storage/presigned-result-urls.ts";
import type { ResultUrls } from "../storage/result-urls.ts";
import { SignedResultUrls } from "../storage/signed-result-urls.ts";
import type { UrlSigner } from "../storage/url-signer.ts";

/** The configured file store, with what the server needs of it beside the port. */
export interface Blobs {
  store: BlobStore;
  /**
   * The URLs results are given under: imagegate's own, signed by `signer`, unless
   * S3_RESULT_URLS=presigned gives the bucket's.
   */
  resultUrls(signer: UrlSigner): ResultUrls;
  /** Resolves when the store can be reached; rejects with why not (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Result files and uploads: under DATA_DIR/results, or in the bucket BLOB_STORE=s3 names. */
export async function openBlobs(config: Config, clock: Clock): Promise<Blobs> {
  const signedResultUrls = (signer: UrlSigner): ResultUrls => new SignedResultUrls(signer, clock);
  if (config.s3 !== null) {
    // Loaded only when configured: the AWS SDK is large, and the embedded default needs none of it.
    const { S3BlobStore } = await import("../storage/s3-blob-store.ts");
    const store = new S3BlobStore(config.s3, { clock });
    const resultUrls =
      config.s3.resultUrls === "presigned"
        ? (signer: UrlSigner) => new PresignedResultUrls(store, clock, signedResultUrls(signer))
        : signedResultUrls;
    return { store, resultUrls, ping: () => store.ping(), close: () => store.close() };
  }
  const store = new LocalBlobStore({ root: path.join(config.dataDir, "results"), clock });
  return { store, resultUrls: signedResultUrls, ping: () => Promise.resolve(), close: () => store.close() };
}
