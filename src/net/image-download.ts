import { createGuardedFetch, OutboundNetworkError, OutboundRefusedError, type OutboundPolicy } from "./guarded-fetch.ts";

export const MAX_REDIRECTS = 5;

export type DownloadOutcome = { ok: true; bytes: Buffer } | { ok: false; reason: string };

/**
 * Fetches a URL a client gave; the reason of a refusal names the URL's field. Once `signal`
 * aborts, it rejects with the signal's reason: the caller stopped it, the download did not fail.
 */
export type ImageDownload = (url: string, signal?: AbortSignal) => Promise<DownloadOutcome>;

export interface ImageDownloadOptions {
  policy: OutboundPolicy;
  maxBytes: number;
  /** The budget of the whole download, redirects included. */
  timeoutMs: number;
  /** Names the URL in reasons, e.g. "fileUrl". */
  urlName: string;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * Downloads an image under the outbound guard. The guard never follows a redirect, so each hop is
 * a request of its own, its address checked again: a public URL cannot redirect to a private one.
 */
export function createImageDownload(options: ImageDownloadOptions): ImageDownload {
  const { urlName, maxBytes, timeoutMs } = options;
  // One byte past the limit tells a body of exactly the limit from a longer one.
  const guarded = createGuardedFetch({ policy: options.policy, timeoutMs, urlName, maxBodyBytes: maxBytes + 1 });
  return async (url, callerSignal) => {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = callerSignal === undefined ? timeout : AbortSignal.any([timeout, callerSignal]);
    let current = url;
    for (let redirects = 0; ; redirects += 1) {
      let response;
      try {
        response = await guarded(current, { method: "GET", headers: { Accept: "image/*" }, signal });
      } catch (error) {
        if (callerSignal?.aborted === true) throw callerSignal.reason;
        if (error instanceof OutboundRefusedError) return { ok: false, reason: error.reason };
        if (timeout.aborted) return { ok: false, reason: `${urlName} timed out after ${timeoutMs} ms` };
        if (error instanceof OutboundNetworkError) return { ok: false, reason: `${urlName} could not be fetched: ${error.reason}` };
        throw error;
      }
      const location = response.headers.get("location");
      if (REDIRECT_STATUSES.has(response.status) && location !== null) {
        if (redirects === MAX_REDIRECTS) return { ok: false, reason: `${urlName} redirected more than ${MAX_REDIRECTS} times` };
        try {
          current = new URL(location, current).href;
        } catch {
          return { ok: false, reason: `${urlName} redirected to an invalid URL` };
        }
        continue;
      }
      if (response.status !== 200) return { ok: false, reason: `${urlName} answered ${response.status}` };
      if (response.bodyTruncated || response.bodyBytes.length > maxBytes) {
        return { ok: false, reason: `${urlName} is larger than ${maxBytes} bytes` };
      }
      return { ok: true, bytes: response.bodyBytes };
    }
  };
}
