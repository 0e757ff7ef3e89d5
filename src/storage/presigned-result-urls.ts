import type { Clock } from "../domain/clock.ts";
import type { PresignedBlobUrls } from "./blob-store.ts";
import type { ResultClaim, ResultFile, ResultUrls } from "./result-urls.ts";

/** A result's key at the end of its object's path: below the bucket, as the store presigns it. */
const RESULT_OBJECT = /\/(\d{4}-\d{2}-\d{2}\/(task_[0-9a-z]{26})\.(?:png|jpg))$/;
/** SigV4's X-Amz-Date: yyyyMMdd'T'HHmmss'Z'. */
const SIGNING_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/**
 * Result URLs that are the bucket's own presigned URLs (S3_RESULT_URLS=presigned): downloads go
 * straight to the bucket and never pass through imagegate.
 *
 * A presigned URL's signature can be checked only with the credentials that made it, which may
 * have been rotated since (instance and pod roles rotate hourly). So download-url takes a URL as
 * naming a result when it names the same object as one of the task's stored resultUrls, and takes
 * the key and expiry from the stored URL: whatever else a client changed in it gains nothing.
 */
export class PresignedResultUrls implements ResultUrls {
  constructor(
    private readonly store: PresignedBlobUrls,
    private readonly clock: Clock,
    /** The result URLs this server gave before S3_RESULT_URLS=presigned, still accepted by download-url. */
    private readonly earlier: ResultUrls,
  ) {}

  issue(key: string, expiresAt: number): Promise<string> {
    // At least a second: the caller has checked `expiresAt` against a clock read a moment before.
    const lifetime = Math.max(1, expiresAt - Math.floor(this.clock.now() / 1000));
    return this.store.presignedUrl(key, lifetime);
  }

  claim(url: string): ResultClaim | null {
    const earlier = this.earlier.claim(url);
    if (earlier !== null) return earlier;
    const given = objectOf(url);
    if (given === null) return null;
    return {
      taskId: given.taskId,
      confirm: (resultJson) => {
        for (const stored of storedUrls(resultJson)) {
          const object = objectOf(stored);
          if (object?.location === given.location) return presignedFile(stored, object.key);
        }
        return null;
      },
    };
  }
}

/** The object a URL names (origin and path, the query left out) and the result key and task at its end. */
function objectOf(url: string): { location: string; key: string; taskId: string } | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.username !== "" || parsed.password !== "") return null;
  const match = RESULT_OBJECT.exec(parsed.pathname);
  const [, key, taskId] = match ?? [];
  if (key === undefined || taskId === undefined) return null;
  return { location: `${parsed.origin}${parsed.pathname}`, key, taskId };
}

/** The key and expiry of a stored presigned result URL; null for one of another kind. */
function presignedFile(url: string, key: string): ResultFile | null {
  const query = new URL(url).searchParams;
  const date = SIGNING_DATE.exec(query.get("X-Amz-Date") ?? "");
  const lifetime = query.get("X-Amz-Expires") ?? "";
  if (date === null || !/^\d+$/.test(lifetime)) return null;
  const [, year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0] = date.map(Number);
  const signedAt = Date.UTC(year, month - 1, day, hour, minute, second) / 1000;
  return { key, expiresAt: signedAt + Number(lifetime) };
}

function storedUrls(resultJson: string): string[] {
  const parsed = JSON.parse(resultJson) as { resultUrls?: unknown };
  return Array.isArray(parsed.resultUrls) ? parsed.resultUrls.filter((url): url is string => typeof url === "string") : [];
}
