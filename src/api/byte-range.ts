import type { ByteRange } from "../storage/blob-store.ts";

/**
 * What a request's `Range` header asks of a file of `size` bytes (RFC 9110, section 14): one
 * range to send, `"unsatisfiable"` (416), or null to send the whole file, which is also the answer
 * to a header this server does not take up: another unit, several ranges, or text that is not a
 * range at all (a server may always ignore Range).
 */
export function requestedRange(header: string | undefined, size: number): ByteRange | "unsatisfiable" | null {
  if (header === undefined) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null) return null;
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return null;
  if (first === "") {
    // A suffix: the last N bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  // A last position before the first is no valid range: ignored, like any other malformed one.
  if (last !== "" && Number(last) < start) return null;
  if (start >= size) return "unsatisfiable";
  return { start, end: last === "" ? size - 1 : Math.min(Number(last), size - 1) };
}

/**
 * Whether a conditional range (`If-Range`) still holds: only when it names the file's current
 * entity tag or last-modified date exactly (a repeated header never does); otherwise the whole
 * file is sent.
 */
export function rangeStillApplies(ifRange: string | string[] | undefined, etag: string, lastModified: string): boolean {
  if (ifRange === undefined) return true;
  if (typeof ifRange !== "string") return false;
  const condition = ifRange.trim();
  return condition === etag || condition === lastModified;
}
