/**
 * How clients are given result files (S3_RESULT_URLS): the URL stored with a task when it
 * succeeds, and the short-lived link download-url answers for it. Imagegate's own signed /files
 * URLs by default; with a bucket, optionally the bucket's presigned URLs, so that downloads go
 * straight to the bucket.
 */
export interface ResultUrls {
  /** A URL that fetches the result file `key` without credentials until `expiresAt` (epoch seconds). */
  issue(key: string, expiresAt: number): Promise<string>;
  /**
   * The task a client's URL claims to be a result of (download-url), or null when it cannot be a
   * result URL of this server. The claim holds only once the task's own record confirms it.
   */
  claim(url: string): ResultClaim | null;
}

export interface ResultClaim {
  taskId: string;
  /** The file the URL names and until when its result URL lives, once the task's stored resultJson confirms the claim; else null. */
  confirm(resultJson: string): ResultFile | null;
}

export interface ResultFile {
  key: string;
  /** Epoch seconds: the end of the result URL's life, which is the end of the file's retention. */
  expiresAt: number;
}
