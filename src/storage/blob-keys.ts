import { subtle } from "node:crypto";
import path from "node:path";

/**
 * What every blob store agrees on, so that a key valid in one store is valid in all of them and
 * blobs keep their etags when moved from one store to another.
 */

/** The local store keeps a blob's metadata beside it under this suffix, so no key may end in it. */
export const SIDECAR_SUFFIX = ".meta.json";

const ONE_DAY_MS = 86_400_000;
const DATE_DIRECTORY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Keys come from our own code, so a bad one is a programming fault, not a client error. */
export function validateBlobKey(key: string): void {
  const problem = keyProblem(key);
  if (problem !== null) throw new Error(`Invalid blob key ${JSON.stringify(key)}: ${problem}`);
}

function keyProblem(key: string): string | null {
  if (key.length === 0) return "it is empty";
  if (key.startsWith("/") || path.isAbsolute(key) || path.win32.isAbsolute(key)) return "it is absolute";
  if (key.includes("..")) return "it contains '..'";
  if (key.includes("\\")) return "it contains a backslash";
  if (key.includes("\0")) return "it contains NUL";
  // Names starting with '.' are where the local store keeps its temporary files.
  if (key.split("/").some((segment) => segment.length === 0 || segment.startsWith("."))) {
    return "a segment is empty or starts with '.'";
  }
  if (key.endsWith(SIDECAR_SUFFIX)) return `names ending in ${SIDECAR_SUFFIX} hold metadata`;
  return null;
}

/**
 * Date-named folders let a sweep skip recent days without reading them. A blob is never
 * written before the day its folder names, but that day may be local rather than UTC, so
 * one day of slack keeps the skip safe in any time zone.
 */
export function folderMayHoldOlderBlobs(name: string, before: number): boolean {
  const match = DATE_DIRECTORY.exec(name);
  if (match === null) return true;
  const dayStart = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  // Date.UTC rolls "2026-13-45" over into a real date; such a name is not a day.
  if (new Date(dayStart).toISOString().slice(0, 10) !== name) return true;
  return dayStart - ONE_DAY_MS < before;
}

/** A blob's strong etag; the local store's writing thread computes the same one. */
export async function contentEtag(bytes: Uint8Array): Promise<string> {
  // WebCrypto hashes off the main thread, so a large image does not stall the event loop.
  const digest = Buffer.from(await subtle.digest("SHA-256", bytes));
  return `"${digest.toString("base64url").slice(0, 22)}"`;
}
