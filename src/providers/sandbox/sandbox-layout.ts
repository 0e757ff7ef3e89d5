import type { PixelSize } from "../../domain/catalog/aspect-ratios.ts";

/** A rectangle in pixels, from its top-left corner. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Where each part of a sandbox picture goes. */
export interface SandboxLayout {
  width: number;
  height: number;
  margin: number;
  titleSize: number;
  titleBaseline: number;
  subtitleSize: number;
  subtitleBaseline: number;
  promptFontSize: number;
  promptLineHeight: number;
  promptFirstBaseline: number;
  /** The widest a prompt line may be, in ems of the prompt font. */
  maxLineEms: number;
  maxLines: number;
  /** The room of the prompt's panel; the panel drawn is only as tall as the text needs. */
  panel: Box;
  panelPadding: number;
  /** One square cell per input image, in the inputs' order. */
  thumbnails: Box[];
}

/** The share of the content area the thumbnails may take, beside or below the prompt. */
const THUMBNAIL_SHARE = 0.4;

/**
 * The layout of a picture of `size` showing `imageCount` input images. Every measure follows the
 * short side, so any ratio at any resolution gets text of the same weight relative to the
 * picture, and a 2K picture is the 1K one drawn twice as large.
 */
export function sandboxLayout(size: PixelSize, imageCount: number): SandboxLayout {
  const { width, height } = size;
  const shortSide = Math.min(width, height);
  const margin = Math.round(shortSide * 0.06);
  const titleSize = Math.round(shortSide * 0.1);
  const subtitleSize = Math.round(shortSide * 0.038);
  const promptFontSize = Math.round(shortSide * 0.04);
  const promptLineHeight = Math.round(promptFontSize * 1.35);
  const panelPadding = Math.round(promptFontSize * 0.8);

  const titleBaseline = margin + titleSize;
  const subtitleBaseline = titleBaseline + Math.round(subtitleSize * 1.6);
  const contentTop = subtitleBaseline + Math.round(subtitleSize * 1.4);
  const content: Box = { x: margin, y: contentTop, width: width - 2 * margin, height: height - margin - contentTop };
  // Wide and square pictures put the inputs beside the prompt, tall ones below it.
  const { panel, thumbnails } =
    imageCount === 0 ? { panel: content, thumbnails: [] } : splitForThumbnails(content, imageCount, panelPadding, width >= height);

  return {
    width,
    height,
    margin,
    titleSize,
    titleBaseline,
    subtitleSize,
    subtitleBaseline,
    promptFontSize,
    promptLineHeight,
    promptFirstBaseline: panel.y + panelPadding + promptFontSize,
    maxLineEms: Math.max(1, (panel.width - 2 * panelPadding) / promptFontSize),
    maxLines: Math.max(1, Math.floor((panel.height - 2 * panelPadding) / promptLineHeight)),
    panel,
    panelPadding,
    thumbnails,
  };
}

/** Gives the thumbnails' grid its share of `content` and the prompt's panel what the grid leaves. */
function splitForThumbnails(content: Box, count: number, gap: number, beside: boolean): { panel: Box; thumbnails: Box[] } {
  const cellGap = Math.max(1, Math.round(gap / 2));
  const region = beside
    ? { width: Math.round(content.width * THUMBNAIL_SHARE), height: content.height }
    : { width: content.width, height: Math.round(content.height * THUMBNAIL_SHARE) };
  const grid = squareGrid(region, count, cellGap);
  const gridWidth = grid.columns * grid.cell + (grid.columns - 1) * cellGap;
  const gridHeight = grid.rows * grid.cell + (grid.rows - 1) * cellGap;
  // The grid keeps only the room it fills; the prompt gets the rest.
  const origin = beside
    ? { x: content.x + content.width - gridWidth, y: content.y }
    : { x: content.x + Math.floor((content.width - gridWidth) / 2), y: content.y + content.height - gridHeight };
  const panel = beside
    ? { ...content, width: origin.x - gap - content.x }
    : { ...content, height: origin.y - gap - content.y };
  const thumbnails = Array.from({ length: count }, (_, index) => ({
    x: origin.x + (index % grid.columns) * (grid.cell + cellGap),
    y: origin.y + Math.floor(index / grid.columns) * (grid.cell + cellGap),
    width: grid.cell,
    height: grid.cell,
  }));
  return { panel, thumbnails };
}

/** The column count that gives `count` square cells the largest side within `region`. */
function squareGrid(region: { width: number; height: number }, count: number, gap: number): { columns: number; rows: number; cell: number } {
  let best = { columns: 1, rows: count, cell: 0 };
  for (let columns = 1; columns <= count; columns += 1) {
    const rows = Math.ceil(count / columns);
    const cell = Math.floor(Math.min((region.width - (columns - 1) * gap) / columns, (region.height - (rows - 1) * gap) / rows));
    if (cell > best.cell) best = { columns, rows, cell };
  }
  return { ...best, cell: Math.max(1, best.cell) };
}
