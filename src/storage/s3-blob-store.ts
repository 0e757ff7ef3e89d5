import { PassThrough, Readable, Transform, pipeline } from "node:stream";
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import type { HeadObjectCommandOutput, _Object } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { systemClock } from "../domain/clock.ts";
import type { Clock } from "../domain/clock.ts";
import type { BlobStore, ByteRange, OpenedBlob, PresignedBlobUrls, StoredBlob } from "./blob-store.ts";
import { contentEtag, folderMayHoldOlderBlobs, validateBlobKey } from "./blob-keys.ts";
import { MAX_PRESIGNED_SECONDS, type S3Connection } from "./s3-config.ts";

/** User metadata holding the content-derived etag: S3's own ETag is an MD5, or not content-derived at all for multipart uploads. */
const ETAG_METADATA = "content-etag";
/** DeleteObjects takes at most this many keys. */
const DELETE_BATCH = 1_000;

/**
 * Blobs in an S3 bucket (AWS or any S3-compatible store), through the official SDK.
 *
 * A blob's write time is the object's Last-Modified as the bucket records it, not the writing
 * process's clock: every process then judges retention by the same clock, and the sweep decides
 * from the listing alone, without one request per object. Last-Modified has whole seconds, so
 * a blob's createdAt does too.
 */
export class S3BlobStore implements BlobStore, PresignedBlobUrls {
  private readonly client: S3Client;
  private readonly bucket: string;
  /** Dates presigned URLs, so they expire by the same clock as imagegate's own signed URLs. */
  private readonly clock: Clock;

  constructor(connection: S3Connection, options: { clock?: Clock } = {}) {
    this.client = new S3Client({
      region: connection.region,
      endpoint: connection.endpoint,
      forcePathStyle: connection.forcePathStyle,
      credentials: connection.credentials,
      // The SDK's default CRC checksums are not understood by every S3-compatible store. Nothing
      // is lost without them: a Buffer body's SHA-256 is part of the request's signature, which
      // the store checks.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    this.bucket = connection.bucket;
    this.clock = options.clock ?? systemClock;
  }

  /** `options.handOver` changes nothing here: the SDK sends `bytes` as they are and keeps no copy. */
  async put(key: string, bytes: Buffer, contentType: string): Promise<StoredBlob> {
    validateBlobKey(key);
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: bytes,
        ContentType: contentType,
        ContentLength: bytes.length,
        Metadata: { [ETAG_METADATA]: await contentEtag(bytes) },
      }),
    );
    // The write time is the bucket's, which only it can tell.
    const head = await this.head(key);
    if (head === null) throw new Error(`S3 object ${JSON.stringify(key)} vanished right after it was written`);
    return storedBlob(key, head);
  }

  async open(key: string): Promise<OpenedBlob | null> {
    validateBlobKey(key);
    const head = await this.head(key);
    if (head === null) return null;
    // If-Match: if the object is replaced between HEAD and GET, reading fails instead of
    // streaming the new version's bytes under the old version's etag and size.
    const version = head.ETag;
    return {
      blob: storedBlob(key, head),
      read: (range) => this.read(key, version, range),
      // Nothing is held between HEAD and GET.
      close: () => Promise.resolve(),
    };
  }

  /** S3 answers a delete of a missing key as done. */
  async delete(key: string): Promise<void> {
    validateBlobKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  /**
   * Lists the top level by folder, so the folders in `except` (uploads) and recent date folders
   * are never listed, then deletes the old objects of the other folders in batches.
   */
  async deleteOlderThan(before: number, except: readonly string[] = []): Promise<number> {
    const batch = new DeleteBatch(this.client, this.bucket);
    const folders: string[] = [];
    for await (const page of this.list({ Delimiter: "/" })) {
      for (const object of page.objects) if (isOlder(object, before)) await batch.add(object.Key);
      for (const prefix of page.folders) {
        const name = prefix.slice(0, -1);
        if (!except.includes(name) && folderMayHoldOlderBlobs(name, before)) folders.push(prefix);
      }
    }
    for (const prefix of folders) {
      for await (const page of this.list({ Prefix: prefix })) {
        for (const object of page.objects) if (isOlder(object, before)) await batch.add(object.Key);
      }
    }
    await batch.flush();
    return batch.deleted;
  }

  async presignedUrl(key: string, expiresInSeconds: number): Promise<string> {
    validateBlobKey(key);
    if (!Number.isInteger(expiresInSeconds) || expiresInSeconds < 1 || expiresInSeconds > MAX_PRESIGNED_SECONDS) {
      throw new Error(`A presigned URL lives from 1 to ${MAX_PRESIGNED_SECONDS} seconds (a week), not ${expiresInSeconds}`);
    }
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
      expiresIn: expiresInSeconds,
      signingDate: new Date(this.clock.now()),
    });
  }

  /** Resolves when the bucket answers with these credentials; rejects with the store's error. */
  async ping(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  /** Closes the client's idle connections. */
  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }

  private async head(key: string): Promise<HeadObjectCommandOutput | null> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      // A HEAD answer has no body, so a missing key is a bare 404 named NotFound.
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /** Starts the GET when asked to read; destroying the stream before the answer aborts the request. */
  private read(key: string, version: string | undefined, range: ByteRange | undefined): Readable {
    const output = new PassThrough();
    const abort = new AbortController();
    output.once("close", () => abort.abort());
    this.client
      .send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          IfMatch: version,
          Range: range === undefined ? undefined : `bytes=${range.start}-${range.end}`,
        }),
        { abortSignal: abort.signal },
      )
      .then((answer) => {
        if (!(answer.Body instanceof Readable)) throw new Error(`S3 answered ${JSON.stringify(key)} without a readable body`);
        // Ends or fails `output` with the body, and destroys the body if `output` is destroyed first.
        const done = (): void => undefined;
        if (range === undefined || answer.ContentRange?.startsWith(`bytes ${range.start}-${range.end}/`) === true) {
          pipeline(answer.Body, output, done);
        } else {
          pipeline(answer.Body, byteWindow(key, range, answer.ContentRange), output, done);
        }
      })
      .catch((error: unknown) => output.destroy(error instanceof Error ? error : new Error(String(error))));
    return output;
  }

  /** The pages of a listing: its objects and, with a delimiter, its folders ("name/"). */
  private async *list(query: { Prefix?: string; Delimiter?: string }): AsyncGenerator<{ objects: ListedObject[]; folders: string[] }> {
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, ...query, ContinuationToken: token }));
      yield {
        objects: (page.Contents ?? []).filter((object): object is ListedObject => object.Key !== undefined),
        folders: (page.CommonPrefixes ?? []).flatMap((prefix) => (prefix.Prefix === undefined ? [] : [prefix.Prefix])),
      };
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }
}

type ListedObject = _Object & { Key: string };

/**
 * Cuts an answer down to the range asked for. Not every S3-compatible store (nor every proxy in
 * front of one) honours Range exactly: some send the whole object, or more than asked (s3rver
 * reads `bytes=0-0` as the whole object). Sent as it came, the extra bytes would break the
 * length a /files answer has announced.
 */
function byteWindow(key: string, range: ByteRange, contentRange: string | undefined): Transform {
  // No Content-Range: the whole object, from its first byte.
  const answerStart = Number(/^bytes (\d+)-/.exec(contentRange ?? "")?.[1] ?? 0);
  if (answerStart > range.start) throw new Error(`S3 answered ${JSON.stringify(key)} with ${contentRange ?? "the whole object"} for bytes ${range.start}-${range.end}`);
  const skip = range.start - answerStart;
  const wanted = range.end - range.start + 1;
  let seen = 0;
  let sent = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const from = Math.max(0, skip - seen);
      const to = Math.min(chunk.length, skip + wanted - seen);
      seen += chunk.length;
      if (from < to) {
        this.push(chunk.subarray(from, to));
        sent += to - from;
      }
      callback();
    },
    flush(callback) {
      callback(sent < wanted ? new Error(`S3 answered ${JSON.stringify(key)} with ${sent} of the ${wanted} bytes asked for`) : null);
    },
  });
}

/** Collects keys and deletes them a full batch at a time. */
class DeleteBatch {
  deleted = 0;
  private keys: string[] = [];

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async add(key: string): Promise<void> {
    this.keys.push(key);
    if (this.keys.length >= DELETE_BATCH) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.keys.length === 0) return;
    const keys = this.keys;
    this.keys = [];
    const answer = await this.client.send(
      new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys.map((key) => ({ Key: key })), Quiet: true } }),
    );
    // Quiet: the answer lists only the keys that could not be deleted (a missing key counts as deleted).
    const failures = answer.Errors ?? [];
    this.deleted += keys.length - failures.length;
    const [first] = failures;
    if (first !== undefined) {
      throw new Error(`S3 refused to delete ${failures.length} of ${keys.length} objects, e.g. ${JSON.stringify(first.Key)}: ${first.Code ?? "error"} ${first.Message ?? ""}`.trim());
    }
  }
}

function storedBlob(key: string, head: HeadObjectCommandOutput): StoredBlob {
  // An object written by other tools has no etag of ours; S3's own is quoted and strong too.
  const etag = head.Metadata?.[ETAG_METADATA] ?? head.ETag;
  if (head.LastModified === undefined || etag === undefined || head.ContentLength === undefined) {
    throw new Error(`S3 answered ${JSON.stringify(key)} without Last-Modified, ETag or Content-Length`);
  }
  return {
    key,
    contentType: head.ContentType ?? "application/octet-stream",
    size: head.ContentLength,
    etag,
    createdAt: head.LastModified.getTime(),
  };
}

function isOlder(object: _Object, before: number): boolean {
  return object.LastModified !== undefined && object.LastModified.getTime() < before;
}

function isNotFound(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return error.name === "NotFound" || error.name === "NoSuchKey";
}
