import { crc32 } from "node:zlib";
import sharp, { type Metadata } from "sharp";
import { CONTENT_TYPES, type OutputFormat, type PixelSize } from "../domain/catalog/aspect-ratios.ts";
import { ProviderError } from "../providers/image-provider.ts";

/** An upstream image in the format the client asked for, with what the worker needs to check it. */
export interface ProcessedImage {
  bytes: Buffer;
  format: OutputFormat;
  contentType: string;
  width: number;
  height: number;
  /** The format the upstream really sent, as sharp names it ("png", "jpeg", "webp", ...). */
  sourceFormat: string;
  /** Whether the pixel size equals the expected one; always true when nothing was expected. */
  sizeMatches: boolean;
}

export type DetectedImageFormat = "png" | "jpeg" | "webp" | "gif";

/**
 * Raster formats we accept from an upstream. sharp also decodes SVG (and, in some builds, PDF);
 * those are documents rather than pictures and rendering them would run upstream-supplied markup,
 * so they count as unusable output.
 */
const RASTER_FORMATS: ReadonlySet<string> = new Set(["png", "jpeg", "webp", "gif", "tiff", "heif", "avif", "jp2", "jxl"]);

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const JPEG_SIGNATURE = Buffer.from([0xff, 0xd8, 0xff]);
const GIF87_SIGNATURE = Buffer.from("GIF87a", "latin1");
const GIF89_SIGNATURE = Buffer.from("GIF89a", "latin1");
const RIFF_SIGNATURE = Buffer.from("RIFF", "latin1");
const WEBP_SIGNATURE = Buffer.from("WEBP", "latin1");

function startsWith(bytes: Buffer, signature: Buffer, offset = 0): boolean {
  return bytes.length >= offset + signature.length && bytes.subarray(offset, offset + signature.length).equals(signature);
}

/**
 * The format announced by the file's magic bytes. It reads a dozen bytes and decodes nothing, so
 * it is cheap enough for request paths; it does not prove the rest of the file is valid.
 */
export function detectImageFormat(bytes: Buffer): DetectedImageFormat | null {
  if (startsWith(bytes, PNG_SIGNATURE)) return "png";
  if (startsWith(bytes, JPEG_SIGNATURE)) return "jpeg";
  if (startsWith(bytes, GIF87_SIGNATURE) || startsWith(bytes, GIF89_SIGNATURE)) return "gif";
  if (startsWith(bytes, RIFF_SIGNATURE) && startsWith(bytes, WEBP_SIGNATURE, 8)) return "webp";
  return null;
}

interface EncodedImage {
  bytes: Buffer;
  width: number;
  height: number;
}

function invalidOutput(cause?: unknown): ProviderError {
  return new ProviderError({
    code: "INVALID_OUTPUT",
    message: "The image model returned no usable image.",
    retryable: false,
    detail: cause instanceof Error ? cause.message : null,
    cause,
  });
}

/**
 * Turns the bytes an upstream returned into the format the client asked for. The upstream's
 * declared mime type is not trusted: the real format is read from the bytes.
 */
export async function processImage(bytes: Buffer, format: OutputFormat, expected: PixelSize | null): Promise<ProcessedImage> {
  if (bytes.length === 0) throw invalidOutput();

  let metadata: Metadata;
  try {
    metadata = await sharp(bytes).metadata();
  } catch (error) {
    throw invalidOutput(error);
  }
  const sourceFormat = metadata.format;
  if (!RASTER_FORMATS.has(sourceFormat) || metadata.width <= 0 || metadata.height <= 0) {
    throw invalidOutput();
  }

  let output: EncodedImage;
  try {
    output = sourceFormat === format ? await passThrough(bytes, metadata) : await convert(bytes, format);
  } catch (error) {
    throw invalidOutput(error);
  }

  return {
    bytes: output.bytes,
    format,
    contentType: CONTENT_TYPES[format],
    width: output.width,
    height: output.height,
    sourceFormat,
    sizeMatches: expected === null || (output.width === expected.width && output.height === expected.height),
  };
}

/**
 * Keeps the upstream's bytes as they are, but only after checking they are whole: metadata reads
 * just the header, and a truncated or corrupt body would otherwise be stored and served as a
 * broken image with a success status. The check walks the file's structure (every PNG chunk's
 * CRC, JPEG's end marker) instead of decoding every pixel, which cost milliseconds of CPU and
 * megabytes of memory per image.
 */
async function passThrough(bytes: Buffer, metadata: Metadata): Promise<EncodedImage> {
  const complete = metadata.format === "png" ? pngChunksIntact(bytes) : jpegComplete(bytes);
  if (!complete) throw new Error(`the ${metadata.format} data is truncated or corrupt`);
  return { bytes, width: metadata.width, height: metadata.height };
}

const PNG_SIGNATURE_LENGTH = 8;

/** Every chunk's CRC matches and the file ends with IEND. */
export function pngChunksIntact(bytes: Buffer): boolean {
  let offset = PNG_SIGNATURE_LENGTH;
  while (offset + 12 <= bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const end = offset + 12 + length;
    if (end > bytes.length) return false;
    const crc = bytes.readUInt32BE(offset + 8 + length);
    if (crc32(bytes.subarray(offset + 4, offset + 8 + length)) !== crc) return false;
    if (bytes.toString("latin1", offset + 4, offset + 8) === "IEND") return end === bytes.length;
    offset = end;
  }
  return false;
}

/** Starts with SOI and ends with EOI (trailing padding after EOI is tolerated). */
export function jpegComplete(bytes: Buffer): boolean {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return false;
  const tail = bytes.subarray(Math.max(0, bytes.length - 64));
  for (let index = tail.length - 2; index >= 0; index -= 1) {
    if (tail[index] === 0xff && tail[index + 1] === 0xd9) return true;
  }
  return false;
}

async function convert(bytes: Buffer, format: OutputFormat): Promise<EncodedImage> {
  const pipeline = sharp(bytes);
  const encoded =
    format === "png"
      ? pipeline.png({ compressionLevel: 6 })
      : // JPEG has no alpha; white is what a transparent image shows on a typical page.
        pipeline.flatten({ background: "#ffffff" }).jpeg({ quality: 90, mozjpeg: false });
  const { data, info } = await encoded.toBuffer({ resolveWithObject: true });
  return { bytes: data, width: info.width, height: info.height };
}
