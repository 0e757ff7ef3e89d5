import { detectImageFormat, type DetectedImageFormat } from "../image-format.ts";

export interface ImageType {
  mimeType: string;
  /** Without the dot, as given to a file named at random. */
  extension: string;
}

const IMAGE_TYPES: Readonly<Record<DetectedImageFormat, ImageType>> = {
  png: { mimeType: "image/png", extension: "png" },
  jpeg: { mimeType: "image/jpeg", extension: "jpg" },
  webp: { mimeType: "image/webp", extension: "webp" },
  gif: { mimeType: "image/gif", extension: "gif" },
};

/**
 * The image type the bytes themselves say, or null when they are none of PNG, JPEG, WebP and GIF.
 * A declared type (a header, a data URL, a file name) is never trusted: the bytes are served back
 * with the type found here.
 */
export function sniffImageType(bytes: Buffer): ImageType | null {
  const format = detectImageFormat(bytes);
  return format === null ? null : IMAGE_TYPES[format];
}
