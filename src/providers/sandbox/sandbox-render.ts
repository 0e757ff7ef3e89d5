import { createHash } from "node:crypto";
import sharp, { type OutputInfo, type OverlayOptions } from "sharp";
import type { PixelSize } from "../../domain/catalog/aspect-ratios.ts";
import { ProviderError, type InputImage } from "../image-provider.ts";
import { sandboxLayout, type Box, type SandboxLayout } from "./sandbox-layout.ts";
import { escapeXml, wrapText } from "./sandbox-text.ts";

const FONT_FAMILY = "DejaVu Sans, sans-serif";

/** What a sandbox picture shows. */
export interface SandboxPicture {
  prompt: string;
  size: PixelSize;
  /** The line under the title, e.g. "16:9 · 2K · 2752×1536". */
  caption: string;
  /** Drawn as numbered thumbnails, in this order. */
  images: readonly InputImage[];
}

/**
 * Renders the sandbox picture: a gradient of the prompt's hash, the prompt, and the input images.
 * Byte-identical for the same prompt, size, caption and inputs.
 */
export async function renderSandboxImage(picture: SandboxPicture): Promise<Buffer> {
  const layout = sandboxLayout(picture.size, picture.images.length);
  const digest = createHash("sha256").update(picture.prompt, "utf8").digest();
  const svg = buildSvg(layout, digest, picture.caption, wrapText(picture.prompt, layout.maxLineEms, layout.maxLines));
  const overlays = await Promise.all(
    picture.images.map((image, index) => thumbnailOverlays(image, index, layout.thumbnails[index] ?? layout.panel)),
  );
  // The picture is opaque, so an alpha channel would only cost encode time and bytes. Adaptive
  // filtering measured half again slower on these gradients and gave no smaller files.
  return sharp(Buffer.from(svg, "utf8"))
    .composite(overlays.flat())
    .removeAlpha()
    .png({ compressionLevel: 6, adaptiveFiltering: false })
    .toBuffer();
}

/** The displayed size of an input image (EXIF orientation applied), as a model would see it. */
export async function inputImageSize(image: InputImage, index: number): Promise<PixelSize> {
  try {
    const metadata = await sharp(image.bytes).metadata();
    return { width: metadata.autoOrient.width, height: metadata.autoOrient.height };
  } catch (error) {
    throw unreadableInput(index, error);
  }
}

function unreadableInput(index: number, cause: unknown): ProviderError {
  return new ProviderError({
    code: "PROVIDER_ERROR",
    message: `The image model could not read input image ${index + 1}.`,
    retryable: false,
    detail: cause instanceof Error ? cause.message : null,
    cause,
  });
}

/** The input fitted into its cell and centred there, and its number in the cell's corner. */
async function thumbnailOverlays(image: InputImage, index: number, cell: Box): Promise<OverlayOptions[]> {
  let thumbnail: { data: Buffer; info: OutputInfo };
  try {
    thumbnail = await sharp(image.bytes)
      .autoOrient()
      .resize({ width: cell.width, height: cell.height, fit: "inside" })
      .toColourspace("srgb")
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw unreadableInput(index, error);
  }
  const { width, height, channels } = thumbnail.info;
  const badge = Math.max(12, Math.round(cell.width * 0.2));
  const inset = Math.max(1, Math.round(badge * 0.15));
  const badgeSvg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${badge}" height="${badge}">` +
    `<rect width="${badge}" height="${badge}" rx="${Math.round(badge / 4)}" fill="rgba(0,0,0,0.7)"/>` +
    `<text x="50%" y="50%" dy="0.35em" text-anchor="middle" font-family="${FONT_FAMILY}" font-weight="bold" font-size="${Math.round(badge * (index < 9 ? 0.62 : 0.5))}" fill="#ffffff">${index + 1}</text>` +
    `</svg>`;
  return [
    {
      input: thumbnail.data,
      raw: { width, height, channels },
      left: cell.x + Math.floor((cell.width - width) / 2),
      top: cell.y + Math.floor((cell.height - height) / 2),
    },
    { input: Buffer.from(badgeSvg, "utf8"), left: cell.x + inset, top: cell.y + inset },
  ];
}

function buildSvg(layout: SandboxLayout, digest: Buffer, caption: string, lines: readonly string[]): string {
  const byteAt = (index: number): number => digest[index] ?? 0;
  const firstHue = ((byteAt(0) << 8) | byteAt(1)) % 360;
  const secondHue = (firstHue + 60 + (byteAt(2) % 120)) % 360;
  const saturation = 50 + (byteAt(3) % 25);
  const firstLightness = 38 + (byteAt(4) % 14);
  const secondLightness = 38 + (byteAt(5) % 14);
  const angle = byteAt(6) % 2 === 0 ? `x1="0" y1="0" x2="1" y2="1"` : `x1="1" y1="0" x2="0" y2="1"`;

  const circles = [0, 1, 2]
    .map((index) => {
      const base = 8 + index * 4;
      const x = Math.round((byteAt(base) / 255) * layout.width);
      const y = Math.round((byteAt(base + 1) / 255) * layout.height);
      const radius = Math.round(Math.min(layout.width, layout.height) * (0.15 + (byteAt(base + 2) / 255) * 0.3));
      const hue = (firstHue + 180 + byteAt(base + 3)) % 360;
      return `<circle cx="${x}" cy="${y}" r="${radius}" fill="hsl(${hue},${saturation}%,60%)" fill-opacity="0.25"/>`;
    })
    .join("");

  // A dark stroke under the white header keeps it readable on the lightest gradients.
  const headerStyle = `fill="#ffffff" stroke="rgba(0,0,0,0.35)" stroke-width="${Math.max(2, Math.round(layout.titleSize * 0.04))}" paint-order="stroke" font-family="${FONT_FAMILY}"`;
  const header =
    `<text x="${layout.margin}" y="${layout.titleBaseline}" font-size="${layout.titleSize}" font-weight="bold" letter-spacing="${Math.round(layout.titleSize * 0.08)}" ${headerStyle}>SANDBOX</text>` +
    `<text x="${layout.margin}" y="${layout.subtitleBaseline}" font-size="${layout.subtitleSize}" ${headerStyle}>${escapeXml(caption)}</text>`;

  // The panel hugs the text, so a short prompt is not lost in an empty box.
  const { panel, panelPadding } = layout;
  const panelHeight = Math.min(panel.height, Math.max(1, lines.length) * layout.promptLineHeight + 2 * panelPadding);
  const panelRect = `<rect x="${panel.x}" y="${panel.y}" width="${panel.width}" height="${panelHeight}" rx="${panelPadding}" fill="rgba(0,0,0,0.45)"/>`;
  // Each input's cell is shaded, so an input with transparency or another shape still shows its place.
  const cells = layout.thumbnails
    .map((cell) => `<rect x="${cell.x}" y="${cell.y}" width="${cell.width}" height="${cell.height}" fill="rgba(0,0,0,0.45)"/>`)
    .join("");

  const promptX = panel.x + panelPadding;
  const promptLines = lines
    .map(
      (line, index) =>
        `<tspan x="${promptX}" y="${layout.promptFirstBaseline + index * layout.promptLineHeight}">${escapeXml(line)}</tspan>`,
    )
    .join("");

  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${layout.width}" height="${layout.height}" viewBox="0 0 ${layout.width} ${layout.height}">` +
    `<defs><linearGradient id="background" ${angle}>` +
    `<stop offset="0" stop-color="hsl(${firstHue},${saturation}%,${firstLightness}%)"/>` +
    `<stop offset="1" stop-color="hsl(${secondHue},${saturation}%,${secondLightness}%)"/>` +
    `</linearGradient></defs>` +
    `<rect width="100%" height="100%" fill="url(#background)"/>` +
    circles +
    header +
    panelRect +
    cells +
    `<text font-family="${FONT_FAMILY}" font-size="${layout.promptFontSize}" fill="#ffffff">${promptLines}</text>` +
    `</svg>`
  );
}
