/** Image formats told apart by their first bytes. */
export type DetectedImageFormat = "png" | "jpeg" | "webp" | "gif";

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
