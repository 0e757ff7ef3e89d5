import { crc32 } from "node:zlib";
import sharp, { type Metadata } from "sharp";
import { CONTENT_TYPES, type OutputFormat, type PixelSize } from "../domain/catalog/aspect-ratios.ts";
import { detectImageFormat } from "../domain/image-format.ts";
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

/**
 * Raster formats we accept from an upstream. sharp also decodes SVG (and, in some builds, PDF);
 * those are documents rather than pictures and rendering them would run upstream-supplied markup,
 * so they count as unusable output.
 */
const RASTER_FORMATS: ReadonlySet<string> = new Set(["png", "jpeg", "webp", "gif", "tiff", "heif", "avif", "jp2", "jxl"]);

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

  let sourceFormat: string;
  let size: PixelSize | null;
  if (format === "png" && detectImageFormat(bytes) === "png") {
    // To be kept as it is, so checked without a call into sharp: the PNG's own header says its size.
    sourceFormat = "png";
    size = pngHeader(bytes);
  } else {
    let metadata: Metadata;
    try {
      metadata = await sharp(bytes).metadata();
    } catch (error) {
      throw invalidOutput(error);
    }
    sourceFormat = metadata.format;
    if (!RASTER_FORMATS.has(sourceFormat) || metadata.width <= 0 || metadata.height <= 0) {
      throw invalidOutput();
    }
    size = metadata;
  }

  let output: EncodedImage;
  try {
    output = sourceFormat === format ? kept(bytes, format, size) : await convert(bytes, format);
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
 * Keeps the upstream's bytes as they are, but only after checking they are whole: a header says
 * only the size, and a truncated or corrupt body would otherwise be stored and served as a broken
 * image with a success status. The check walks the file's structure (every PNG chunk's CRC,
 * JPEG's end marker) instead of decoding every pixel, which cost milliseconds of CPU and
 * megabytes of memory per image. `size` is null for a header the format does not allow.
 */
function kept(bytes: Buffer, format: OutputFormat, size: PixelSize | null): EncodedImage {
  const complete = size !== null && (format === "png" ? pngChunksIntact(bytes) : jpegComplete(bytes));
  if (!complete) throw new Error(`the ${format} data is truncated or corrupt`);
  return { bytes, width: size.width, height: size.height };
}

const PNG_SIGNATURE_LENGTH = 8;
const IHDR_LENGTH = 13;
/** The bit depths PNG allows for each colour type (PNG specification, 11.2.2). */
const PNG_BIT_DEPTHS: ReadonlyMap<number, readonly number[]> = new Map([
  [0, [1, 2, 4, 8, 16]],
  [2, [8, 16]],
  [3, [1, 2, 4, 8]],
  [4, [8, 16]],
  [6, [8, 16]],
]);
/** PNG's largest width or height, 2^31 - 1. */
const PNG_MAXIMUM_DIMENSION = 0x7fffffff;

/** Width and height from the IHDR chunk, which must come first; null for a header PNG does not allow. */
export function pngHeader(bytes: Buffer): PixelSize | null {
  const start = PNG_SIGNATURE_LENGTH;
  if (bytes.length < start + 8 + IHDR_LENGTH + 4) return null;
  if (bytes.readUInt32BE(start) !== IHDR_LENGTH || bytes.toString("latin1", start + 4, start + 8) !== "IHDR") return null;
  const width = bytes.readUInt32BE(start + 8);
  const height = bytes.readUInt32BE(start + 12);
  const bitDepth = bytes.readUInt8(start + 16);
  const colourType = bytes.readUInt8(start + 17);
  const compression = bytes.readUInt8(start + 18);
  const filter = bytes.readUInt8(start + 19);
  const interlace = bytes.readUInt8(start + 20);
  if (width === 0 || height === 0 || width > PNG_MAXIMUM_DIMENSION || height > PNG_MAXIMUM_DIMENSION) return null;
  if (!(PNG_BIT_DEPTHS.get(colourType) ?? []).includes(bitDepth)) return null;
  if (compression !== 0 || filter !== 0 || interlace > 1) return null;
  return { width, height };
}

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
