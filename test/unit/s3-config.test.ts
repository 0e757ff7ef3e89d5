import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config-error.ts";
import { readS3Config } from "../../src/storage/s3-config.ts";

const S3 = { BLOB_STORE: "s3", S3_BUCKET: "imagegate-results" };

function errorOf(env: Record<string, string>): ConfigError {
  try {
    readS3Config(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("readS3Config", () => {
  it("keeps files on local disk when BLOB_STORE is unset, empty or local", () => {
    expect(readS3Config({})).toBeNull();
    expect(readS3Config({ BLOB_STORE: " " })).toBeNull();
    expect(readS3Config({ BLOB_STORE: "LOCAL" })).toBeNull();
  });

  it("has defaults for everything but the bucket", () => {
    expect(readS3Config(S3)).toEqual({
      bucket: "imagegate-results",
      region: "us-east-1",
      endpoint: undefined,
      forcePathStyle: false,
      credentials: undefined,
      resultUrls: "signed",
    });
  });

  it("reads every S3_* variable, trimmed", () => {
    expect(
      readS3Config({
        BLOB_STORE: " S3 ",
        S3_BUCKET: " images ",
        S3_REGION: "eu-central-1",
        S3_ENDPOINT: "http://minio:9000/",
        S3_ACCESS_KEY_ID: "AKIAEXAMPLE",
        S3_SECRET_ACCESS_KEY: "secret/with+chars",
        S3_FORCE_PATH_STYLE: "TRUE",
        S3_RESULT_URLS: "Presigned",
      }),
    ).toEqual({
      bucket: "images",
      region: "eu-central-1",
      endpoint: "http://minio:9000",
      forcePathStyle: true,
      credentials: { accessKeyId: "AKIAEXAMPLE", secretAccessKey: "secret/with+chars" },
      resultUrls: "presigned",
    });
  });

  it("refuses a BLOB_STORE it does not know", () => {
    expect(errorOf({ BLOB_STORE: "gcs" }).message).toBe('BLOB_STORE must be one of local, s3, got "gcs"');
  });

  it("refuses BLOB_STORE=s3 without S3_BUCKET", () => {
    expect(errorOf({ BLOB_STORE: "s3" }).message).toMatch(/^BLOB_STORE=s3 needs S3_BUCKET/);
    expect(errorOf({ BLOB_STORE: "s3", S3_BUCKET: "  " }).message).toMatch(/needs S3_BUCKET/);
  });

  it.each(["minio:9000", "not a url", "ftp://minio:9000", "http://key:secret@minio:9000", "https://minio:9000/?x=1"])(
    "refuses S3_ENDPOINT %j",
    (endpoint) => {
      expect(errorOf({ ...S3, S3_ENDPOINT: endpoint }).message).toMatch(/^S3_ENDPOINT must/);
    },
  );

  it("refuses S3_RESULT_URLS other than signed or presigned", () => {
    expect(errorOf({ ...S3, S3_RESULT_URLS: "public" }).message).toBe('S3_RESULT_URLS must be one of signed, presigned, got "public"');
  });

  it("refuses S3_FORCE_PATH_STYLE other than true or false", () => {
    expect(errorOf({ ...S3, S3_FORCE_PATH_STYLE: "yes" }).message).toBe('S3_FORCE_PATH_STYLE must be true or false, got "yes"');
  });

  it("refuses one access key without the other, naming both", () => {
    expect(errorOf({ ...S3, S3_ACCESS_KEY_ID: "AKIAEXAMPLE" }).message).toMatch(/^S3_ACCESS_KEY_ID is set without S3_SECRET_ACCESS_KEY/);
    expect(errorOf({ ...S3, S3_SECRET_ACCESS_KEY: "secret" }).message).toMatch(/^S3_SECRET_ACCESS_KEY is set without S3_ACCESS_KEY_ID/);
  });

  it("refuses S3_* variables when BLOB_STORE does not select the bucket, naming them", () => {
    expect(errorOf({ S3_BUCKET: "images" }).message).toBe(
      "S3_BUCKET is set but BLOB_STORE is not s3; set BLOB_STORE=s3 to keep files in the bucket, or unset it",
    );
    expect(errorOf({ BLOB_STORE: "local", S3_BUCKET: "images", S3_RESULT_URLS: "presigned" }).message).toMatch(
      /^S3_BUCKET, S3_RESULT_URLS are set but BLOB_STORE is not s3/,
    );
  });
});
