import { randomBytes } from "node:crypto";
import { open, readFile, readdir, rmdir, stat, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import path from "node:path";
import { systemClock } from "../domain/clock.ts";
import type { Clock } from "../domain/clock.ts";
import type { BlobStore, OpenedBlob, PutOptions, StoredBlob } from "./blob-store.ts";
import { contentEtag, folderMayHoldOlderBlobs, SIDECAR_SUFFIX, validateBlobKey } from "./blob-keys.ts";
import { FileWriterThread } from "./file-writer-thread.ts";
import { isErrorCode } from "./durable-files.ts";

const TEMPORARY_SUFFIX = ".tmp";

/**
 * Each blob `<name>` has a sidecar `<name>.meta.json` holding what `open` must answer without
 * reading the whole file again (content type, etag, write time). The sidecar also records the
 * inode and size of the file it describes: a crash between the two renames of an overwrite
 * leaves a sidecar that no longer matches, and `open` then falls back to hashing the file.
 */
interface SidecarMetadata {
  contentType: string;
  etag: string;
  size: number;
  createdAt: number;
  inode: string;
}

export class LocalBlobStore implements BlobStore {
  private readonly root: string;
  private readonly clock: Clock;

  /** Writes new files durably off the event loop (see FileWriterThread). */
  private readonly writer = new FileWriterThread();

  constructor(options: { root: string; clock?: Clock }) {
    this.root = path.resolve(options.root);
    this.clock = options.clock ?? systemClock;
  }

  async put(key: string, bytes: Buffer, contentType: string, options: PutOptions = {}): Promise<StoredBlob> {
    const filePath = this.resolveKey(key);
    const createdAt = this.clock.now();
    const sidecar = filePath + SIDECAR_SUFFIX;
    // Sidecar first: a fresh key never has a file under its final name without metadata. The
    // sidecar is not flushed: one lost to a crash reads as damaged, and open() rebuilds what it
    // held from the file, which is.
    const size = bytes.length;
    const etag = await this.writer.write(
      {
        file: filePath,
        sidecar,
        temporaryFile: temporaryPathFor(filePath),
        temporarySidecar: temporaryPathFor(sidecar),
        bytes,
        contentType,
        createdAt,
      },
      options.handOver === true && ownsItsMemory(bytes),
    );
    return { key, contentType, size, etag, createdAt };
  }

  /** Stops the writing thread once no write is pending; a later put starts it again. */
  close(): Promise<void> {
    return this.writer.close();
  }

  async open(key: string): Promise<OpenedBlob | null> {
    const filePath = this.resolveKey(key);
    let handle: FileHandle;
    try {
      handle = await open(filePath, "r");
    } catch (error) {
      if (isErrorCode(error, "ENOENT") || isErrorCode(error, "EISDIR")) return null;
      throw error;
    }
    try {
      // Stat through the open handle so size and inode describe exactly the bytes we stream,
      // even if the key is replaced or deleted meanwhile.
      const fileStat = await handle.stat({ bigint: true });
      if (!fileStat.isFile()) {
        await handle.close();
        return null;
      }
      const size = Number(fileStat.size);
      const metadata = await readSidecar(filePath);
      let blob: StoredBlob;
      if (metadata !== null && metadata.inode === fileStat.ino.toString() && metadata.size === size) {
        blob = { key, contentType: metadata.contentType, size, etag: metadata.etag, createdAt: metadata.createdAt };
      } else {
        blob = {
          key,
          contentType: contentTypeFromExtension(filePath),
          size,
          etag: await contentEtag(await handle.readFile()),
          createdAt: Number(fileStat.mtimeMs),
        };
      }
      // An explicit start, because the fallback above may have moved the handle's position; the
      // stream closes the handle when it ends or is destroyed.
      return {
        blob,
        read: (range) => handle.createReadStream(range === undefined ? { start: 0 } : { start: range.start, end: range.end }),
        close: () => handle.close(),
      };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    const filePath = this.resolveKey(key);
    // File first: an interrupted delete leaves at worst an orphan sidecar, which the sweep removes.
    await removeIfPresent(filePath);
    await removeIfPresent(filePath + SIDECAR_SUFFIX);
  }

  async deleteOlderThan(before: number, except: readonly string[] = []): Promise<number> {
    return this.sweepDirectory(this.root, before, except);
  }

  private async sweepDirectory(directory: string, before: number, except: readonly string[] = []): Promise<number> {
    let entries;
    try {
      entries = await readdir(directory, { withFileTypes: true });
    } catch (error) {
      if (isErrorCode(error, "ENOENT")) return 0;
      throw error;
    }
    const names = new Set(entries.map((entry) => entry.name));
    let removed = 0;
    for (const entry of entries) {
      const entryPath = path.join(directory, entry.name);
      if (entry.isDirectory()) {
        // Only at the top: `except` names top-level folders.
        if (except.includes(entry.name) || !folderMayHoldOlderBlobs(entry.name, before)) continue;
        removed += await this.sweepDirectory(entryPath, before);
      } else if (!entry.isFile()) {
        continue;
      } else if (entry.name.endsWith(TEMPORARY_SUFFIX) && entry.name.startsWith(".")) {
        // Left behind by a put that crashed before its rename.
        if (await modifiedBefore(entryPath, before)) await removeIfPresent(entryPath);
      } else if (entry.name.endsWith(SIDECAR_SUFFIX)) {
        const blobName = entry.name.slice(0, -SIDECAR_SUFFIX.length);
        if (names.has(blobName)) continue;
        // An orphan: its blob was deleted, or a put crashed between the two renames.
        const metadata = await readSidecar(path.join(directory, blobName));
        const orphanTime = metadata?.createdAt ?? (await modifiedTime(entryPath));
        if (orphanTime !== null && orphanTime < before) await removeIfPresent(entryPath);
      } else if (await this.removeBlobIfOlder(entryPath, before)) {
        removed += 1;
      }
    }
    if (directory !== this.root) await removeDirectoryIfEmpty(directory);
    return removed;
  }

  private async removeBlobIfOlder(filePath: string, before: number): Promise<boolean> {
    const metadata = await readSidecar(filePath);
    let createdAt: number | null;
    if (metadata !== null) {
      createdAt = metadata.createdAt;
    } else {
      createdAt = await modifiedTime(filePath);
    }
    if (createdAt === null || createdAt >= before) return false;
    try {
      await unlink(filePath);
    } catch (error) {
      if (isErrorCode(error, "ENOENT")) return false;
      throw error;
    }
    await removeIfPresent(filePath + SIDECAR_SUFFIX);
    return true;
  }

  private resolveKey(key: string): string {
    validateBlobKey(key);
    const resolved = path.resolve(this.root, ...key.split("/"));
    if (!resolved.startsWith(this.root + path.sep)) {
      throw new Error(`Blob key escapes the storage root: ${JSON.stringify(key)}`);
    }
    return resolved;
  }
}

function contentTypeFromExtension(filePath: string): string {
  switch (path.extname(filePath).toLowerCase()) {
    case ".png":
      return "image/png";
    case ".jpg":
    case ".jpeg":
      return "image/jpeg";
    default:
      return "application/octet-stream";
  }
}

/**
 * Whether `bytes`, as far as can be seen, is the only view of memory that is its own: Node carves
 * small buffers out of a shared pool, whose memory must never be handed over, and a view of a
 * small part of a larger buffer is more likely a slice of someone else's data than its own.
 */
function ownsItsMemory(bytes: Buffer): boolean {
  const memory = bytes.buffer;
  return memory instanceof ArrayBuffer && memory.byteLength > Buffer.poolSize && bytes.byteOffset === 0 && bytes.byteLength * 2 > memory.byteLength;
}

function temporaryPathFor(finalPath: string): string {
  const name = `.${path.basename(finalPath)}.${randomBytes(6).toString("hex")}${TEMPORARY_SUFFIX}`;
  return path.join(path.dirname(finalPath), name);
}

async function readSidecar(filePath: string): Promise<SidecarMetadata | null> {
  let text: string;
  try {
    text = await readFile(filePath + SIDECAR_SUFFIX, "utf8");
  } catch (error) {
    if (isErrorCode(error, "ENOENT")) return null;
    throw error;
  }
  try {
    const value: unknown = JSON.parse(text);
    return isSidecarMetadata(value) ? value : null;
  } catch {
    // A damaged sidecar is recoverable: the file itself is the source of truth.
    return null;
  }
}

function isSidecarMetadata(value: unknown): value is SidecarMetadata {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    typeof record.contentType === "string" &&
    typeof record.etag === "string" &&
    typeof record.size === "number" &&
    typeof record.createdAt === "number" &&
    typeof record.inode === "string"
  );
}

async function modifiedTime(filePath: string): Promise<number | null> {
  try {
    return (await stat(filePath)).mtimeMs;
  } catch (error) {
    if (isErrorCode(error, "ENOENT")) return null;
    throw error;
  }
}

async function modifiedBefore(filePath: string, before: number): Promise<boolean> {
  const time = await modifiedTime(filePath);
  return time !== null && time < before;
}

async function removeIfPresent(filePath: string): Promise<void> {
  try {
    await unlink(filePath);
  } catch (error) {
    if (!isErrorCode(error, "ENOENT")) throw error;
  }
}

async function removeDirectoryIfEmpty(directory: string): Promise<void> {
  try {
    await rmdir(directory);
  } catch (error) {
    // Not empty (kept blobs, or a put that just started) or already gone: both are fine.
    if (isErrorCode(error, "ENOTEMPTY") || isErrorCode(error, "EEXIST") || isErrorCode(error, "ENOENT")) return;
    throw error;
  }
}

