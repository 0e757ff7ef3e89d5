/**
 * The wait a Retry-After header asks for, in milliseconds from `now`, or null when the header is
 * absent or unreadable (the caller then keeps its own schedule). Both forms of RFC 9110 are
 * read: delay-seconds ("120") and an HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT"). A date in the
 * past asks for no wait at all; bounding the answer is the schedule's business, not this one's.
 */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  const trimmed = value.trim();
  if (trimmed === "") return null;
  if (/^\d+$/.test(trimmed)) {
    const seconds = Number(trimmed);
    return Number.isSafeInteger(seconds) ? seconds * 1_000 : null;
  }
  // Date.parse also accepts bare numbers and ISO strings; an HTTP date always names a weekday.
  // IMF-fixdate "Sun, 06 Nov ...", RFC 850 "Sunday, 06-Nov-94 ..." and asctime "Sun Nov  6 ...".
  if (!/^[A-Za-z]{3,9},? /.test(trimmed)) return null;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}
