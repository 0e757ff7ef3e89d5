import { buffer } from "node:stream/consumers";
import type { Clock } from "../domain/clock.ts";
import { sniffImageType } from "../domain/uploads/image-type.ts";
import { createImageDownload, type ImageDownloadOptions } from "../net/image-download.ts";
import type { InputImage } from "../providers/image-provider.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import type { UrlSigner } from "../storage/url-signer.ts";

/**
 * How many of a task's images are fetched at once: one at a time would add up their round trips,
 * all 14 at once would open as many connections (and hold as many bodies) for every running task.
 */
export const CONCURRENT_INPUT_FETCHES = 4;

/** What the upstream models take; a GIF upload, or anything else, is refused before the call. */
const ACCEPTED_MIME_TYPES: ReadonlySet<string> = new Set(["image/png", "image/jpeg", "image/webp"]);

/** The path below the public base URL under which stored files are served. */
const FILES_PREFIX = "/files/";

/** An input image that cannot be used; the message names the input and why, as the task's failMsg. */
export class InputImageError extends Error {
  override readonly name = "InputImageError";
}

export interface InputImageLoaderParts {
  blobs: BlobStore;
  signer: UrlSigner;
  clock: Clock;
  /**
   * Whether upstreams on the internet reach PUBLIC_BASE_URL: then this server's own file URLs are
   * handed to upstreams that fetch their inputs, instead of the bytes inline.
   */
  publicFiles?: boolean;
}

/** How other servers' URLs are fetched (the INPUT_IMAGE_* settings); each input names itself. */
export type InputDownloadOptions = Omit<ImageDownloadOptions, "urlName">;

/**
 * Turns a task's reference image URLs into the images the provider sends upstream. This server's
 * own signed file URLs (uploads, results) are read from storage, with no network hop: the public
 * base URL may well not be reachable from the server itself. Every other URL is downloaded under
 * the input images' address guard and limits.
 */
export class InputImageLoader {
  constructor(
    private readonly parts: InputImageLoaderParts,
    private readonly download: InputDownloadOptions,
  ) {}

  /**
   * The images at `urls`, in their order; `field` names them in errors (`image_urls[2] ...`).
   * Rejects with an InputImageError for the first input found unusable (the others are then
   * abandoned), or with the signal's reason once it aborts.
   */
  async load(urls: readonly string[], field: string, signal: AbortSignal): Promise<InputImage[]> {
    // Text to image, most tasks: nothing to set up.
    if (urls.length === 0) return [];
    const images: InputImage[] = [];
    const abandon = new AbortController();
    const loading = AbortSignal.any([signal, abandon.signal]);
    const failures: unknown[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let index = next++; failures.length === 0 && index < urls.length; index = next++) {
        try {
          images[index] = await this.loadOne(urls[index] ?? "", `${field}[${index}]`, loading);
        } catch (error) {
          failures.push(error);
          abandon.abort();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENT_INPUT_FETCHES, urls.length) }, worker));
    signal.throwIfAborted();
    // The first failure found is the one told; the abandoned inputs' aborts come after it.
    if (failures.length > 0) throw failures[0];
    return images;
  }

  private async loadOne(url: string, name: string, signal: AbortSignal): Promise<InputImage> {
    const stored = await this.readStored(url, name);
    const bytes = stored ?? (await this.fetch(url, name, signal));
    // The bytes decide the type, never a header or the name: the upstream is told what they are.
    const type = sniffImageType(bytes);
    if (type === null || !ACCEPTED_MIME_TYPES.has(type.mimeType)) {
      throw new InputImageError(`${name} is not a PNG, JPEG or WebP image`);
    }
    // Another server's URL is never handed on: its bytes were checked here, and could change.
    return stored !== null && this.parts.publicFiles === true ? { bytes, mimeType: type.mimeType, url } : { bytes, mimeType: type.mimeType };
  }

  /** The bytes of one of this server's own files, or null when `url` is not one of its file URLs. */
  private async readStored(url: string, name: string): Promise<Buffer | null> {
    const { signer, blobs, clock } = this.parts;
    const parts = signer.parse(url);
    if (parts === null || !parts.path.startsWith(FILES_PREFIX)) return null;
    // As GET /files/ would answer it: the signature first, then the expiry, then the file.
    const verdict = signer.verify(parts.path, parts, Math.floor(clock.now() / 1000));
    if (verdict === "tampered") throw new InputImageError(`${name} is a file URL of this server whose signature does not match`);
    if (verdict === "expired") throw new InputImageError(`${name} is a file URL of this server that has expired`);
    const opened = await blobs.open(parts.path.slice(FILES_PREFIX.length));
    if (opened === null) {
      throw new InputImageError(`${name} names a file this server no longer has: it may have passed its retention period`);
    }
    return buffer(opened.read());
  }

  private async fetch(url: string, name: string, signal: AbortSignal): Promise<Buffer> {
    const downloaded = await createImageDownload({ ...this.download, urlName: name })(url, signal);
    if (!downloaded.ok) throw new InputImageError(downloaded.reason);
    return downloaded.bytes;
  }
}
