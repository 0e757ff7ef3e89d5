import { fork } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import type { S3Connection } from "../../src/storage/s3-config.ts";

/** s3rver accepts only the credentials of its one built-in account. */
const CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

const SERVER_SCRIPT = path.join(import.meta.dirname, "s3rver-process.js");

/**
 * A real S3-speaking server (s3rver, in a process of its own: see s3rver-process.js) on an
 * ephemeral port, keeping its buckets in a temporary directory; each test takes a bucket of
 * its own. It records write times by this machine's clock, in whole seconds.
 */
export class S3TestServer {
  private constructor(
    private readonly server: ChildProcess,
    private readonly directory: string,
    readonly endpoint: string,
    /** The tests' own client, for setting up and emptying buckets behind the store's back. */
    readonly client: S3Client,
  ) {}

  static async start(): Promise<S3TestServer> {
    const directory = await mkdtemp(path.join(os.tmpdir(), "imagegate-s3rver-"));
    const server = fork(SERVER_SCRIPT, [directory], { execArgv: ["--openssl-legacy-provider"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const [message] = (await Promise.race([
      once(server, "message"),
      once(server, "exit").then(([code]) => {
        throw new Error(`s3rver exited with ${String(code)} before listening`);
      }),
    ])) as [{ port: number }];
    const endpoint = `http://127.0.0.1:${message.port}`;
    const client = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: CREDENTIALS });
    return new S3TestServer(server, directory, endpoint, client);
  }

  /** How to reach `bucket` on this server, as BLOB_STORE=s3 would configure it. */
  connection(bucket: string): S3Connection {
    return { bucket, region: "us-east-1", endpoint: this.endpoint, forcePathStyle: true, credentials: CREDENTIALS };
  }

  /** The variables that set BLOB_STORE=s3 to `bucket` on this server, as an operator would. */
  settings(bucket: string): Record<string, string> {
    return {
      BLOB_STORE: "s3",
      S3_BUCKET: bucket,
      S3_ENDPOINT: this.endpoint,
      S3_FORCE_PATH_STYLE: "true",
      S3_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    };
  }

  /** A new, empty bucket with a name no other test uses. */
  async createBucket(): Promise<string> {
    const bucket = `imagegate-test-${randomBytes(6).toString("hex")}`;
    await this.client.send(new CreateBucketCommand({ Bucket: bucket }));
    return bucket;
  }

  /** Empties the bucket, then removes it. */
  async deleteBucket(bucket: string): Promise<void> {
    for (;;) {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: bucket }));
      const keys = (page.Contents ?? []).flatMap((object) => (object.Key === undefined ? [] : [{ Key: object.Key }]));
      if (keys.length === 0) break;
      await this.client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    }
    await this.client.send(new DeleteBucketCommand({ Bucket: bucket }));
  }

  async stop(): Promise<void> {
    this.client.destroy();
    const exited = once(this.server, "exit");
    // Disconnecting asks it to close; it exits once it has.
    this.server.disconnect();
    await exited;
    await rm(this.directory, { recursive: true, force: true });
  }
}
