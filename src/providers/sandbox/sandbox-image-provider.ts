import { createHash } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import sharp from "sharp";
import { ASPECT_RATIOS, pixelSize, type AspectRatio } from "../../domain/catalog/aspect-ratios.ts";
import { ProviderError, type ImageOutput, type ImageProvider, type ImageRequest } from "../image-provider.ts";

/** Prompt words that make the sandbox act out an upstream's behaviours, for demos and tests. */
export const SANDBOX_MAGIC_WORDS = {
  fail: "[sandbox:fail]",
  unsafe: "[sandbox:unsafe]",
  slow: "[sandbox:slow]",
} as const;

const SLOW_LATENCY_FACTOR = 10;

export type SandboxSleep = (ms: number, signal: AbortSignal) => Promise<void>;

export interface SandboxImageProviderOptions {
  /** How long a generation pretends to wait on the model. */
  latencyMs: number;
  /** Injectable so tests control time; must reject (or return early) once the signal aborts. */
  sleep?: SandboxSleep;
}

/** Waits `ms` milliseconds; rejects as soon as `signal` aborts. */
export const abortableSleep: SandboxSleep = async (ms, signal) => {
  await delay(ms, undefined, { signal });
};

/**
 * A stand-in for a real image model: no network, no key, deterministic pictures of the prompt.
 * It lets the whole server run (and be demonstrated) before an upstream is configured.
 */
export class SandboxImageProvider implements ImageProvider {
  readonly name = "sandbox";
  private readonly latencyMs: number;
  private readonly sleep: SandboxSleep;

  constructor(options: SandboxImageProviderOptions) {
    this.latencyMs = options.latencyMs;
    this.sleep = options.sleep ?? abortableSleep;
  }

  async generate(request: ImageRequest): Promise<ImageOutput> {
    // A task canceled while it waited for a slot must not be reported as started.
    throwIfAborted(request.signal);
    await request.onStart?.();

    const waitMs = request.prompt.includes(SANDBOX_MAGIC_WORDS.slow)
      ? this.latencyMs * SLOW_LATENCY_FACTOR
      : this.latencyMs;
    const startedAt = performance.now();
    try {
      await this.sleep(waitMs, request.signal);
    } catch (error) {
      if (request.signal.aborted) throw abortedError(request.signal);
      throw error;
    }
    // An injected sleep may ignore the signal; the outcome must still be the abort.
    throwIfAborted(request.signal);
    const upstreamMs = Math.round(performance.now() - startedAt);

    // Refusals come after the wait, as a real upstream only answers after the round trip.
    if (request.prompt.includes(SANDBOX_MAGIC_WORDS.fail)) {
      throw new ProviderError({
        code: "PROVIDER_ERROR",
        message: "The image model failed to generate the image.",
        retryable: false,
        detail: `sandbox: prompt contains ${SANDBOX_MAGIC_WORDS.fail}`,
      });
    }
    if (request.safetyChecking && request.prompt.includes(SANDBOX_MAGIC_WORDS.unsafe)) {
      throw new ProviderError({
        code: "CONTENT_POLICY",
        message: "The prompt was refused by safety checking.",
        retryable: false,
        detail: `sandbox: prompt contains ${SANDBOX_MAGIC_WORDS.unsafe}`,
      });
    }

    const bytes = await renderSandboxImage(request.prompt, request.aspectRatio);
    return { bytes, declaredMimeType: "image/png", upstreamMs };
  }
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortedError(signal);
}

function abortedError(signal: AbortSignal): ProviderError {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === "TimeoutError") {
    return new ProviderError({ code: "TIMEOUT", message: "The task ran past its deadline.", retryable: false, cause: reason });
  }
  return new ProviderError({ code: "CANCELED", message: "The task was canceled.", retryable: false, cause: reason });
}

// ---------------------------------------------------------------------------------------------
// Rendering

const FONT_FAMILY = "DejaVu Sans, sans-serif";
const ELLIPSIS = "…";

/** Everything about the picture that depends on the ratio alone, so a render only adds the prompt. */
interface Layout {
  width: number;
  height: number;
  promptFontSize: number;
  promptLineHeight: number;
  promptX: number;
  promptFirstBaseline: number;
  /** The widest a prompt line may be, in ems of the prompt font. */
  maxLineEms: number;
  maxLines: number;
  panelX: number;
  panelTop: number;
  panelWidth: number;
  panelPadding: number;
  /** The SVG after the background: the header and the size line. */
  staticMarkup: string;
}

function computeLayout(ratio: AspectRatio): Layout {
  const { width, height } = pixelSize(ratio);
  const shortSide = Math.min(width, height);
  const margin = Math.round(shortSide * 0.06);
  const titleSize = Math.round(shortSide * 0.1);
  const subtitleSize = Math.round(shortSide * 0.038);
  const promptFontSize = Math.round(shortSide * 0.04);
  const promptLineHeight = Math.round(promptFontSize * 1.35);
  const padding = Math.round(promptFontSize * 0.8);

  const titleBaseline = margin + titleSize;
  const subtitleBaseline = titleBaseline + Math.round(subtitleSize * 1.6);
  const panelTop = subtitleBaseline + Math.round(subtitleSize * 1.4);
  const panelHeight = height - margin - panelTop;
  const panelWidth = width - 2 * margin;
  const promptX = margin + padding;
  const maxLines = Math.max(1, Math.floor((panelHeight - 2 * padding) / promptLineHeight));

  // A dark stroke under the white header keeps it readable on the lightest gradients.
  const headerStyle = `fill="#ffffff" stroke="rgba(0,0,0,0.35)" stroke-width="${Math.max(2, Math.round(titleSize * 0.04))}" paint-order="stroke" font-family="${FONT_FAMILY}"`;
  const staticMarkup = [
    `<text x="${margin}" y="${titleBaseline}" font-size="${titleSize}" font-weight="bold" letter-spacing="${Math.round(titleSize * 0.08)}" ${headerStyle}>SANDBOX</text>`,
    `<text x="${margin}" y="${subtitleBaseline}" font-size="${subtitleSize}" ${headerStyle}>${ratio} · ${width}×${height}</text>`,
  ].join("");

  return {
    width,
    height,
    promptFontSize,
    promptLineHeight,
    promptX,
    promptFirstBaseline: panelTop + padding + promptFontSize,
    maxLineEms: (panelWidth - 2 * padding) / promptFontSize,
    maxLines,
    panelX: margin,
    panelTop,
    panelWidth,
    panelPadding: padding,
    staticMarkup,
  };
}

const LAYOUTS: ReadonlyMap<AspectRatio, Layout> = new Map(ASPECT_RATIOS.map((ratio) => [ratio, computeLayout(ratio)]));

/** Renders the sandbox picture of a prompt: byte-identical for the same prompt and ratio. */
export async function renderSandboxImage(prompt: string, ratio: AspectRatio): Promise<Buffer> {
  const layout = LAYOUTS.get(ratio) ?? computeLayout(ratio);
  const digest = createHash("sha256").update(prompt, "utf8").digest();
  const svg = buildSvg(layout, digest, wrapText(prompt, layout.maxLineEms, layout.maxLines));
  // The picture is opaque, so an alpha channel would only cost encode time and bytes. Adaptive
  // filtering measured half again slower on these gradients and gave no smaller files.
  return sharp(Buffer.from(svg, "utf8")).removeAlpha().png({ compressionLevel: 6, adaptiveFiltering: false }).toBuffer();
}

function buildSvg(layout: Layout, digest: Buffer, lines: readonly string[]): string {
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

  // The panel hugs the text, so a short prompt is not lost in an empty box.
  const panelHeight = Math.max(1, lines.length) * layout.promptLineHeight + 2 * layout.panelPadding;
  const panel = `<rect x="${layout.panelX}" y="${layout.panelTop}" width="${layout.panelWidth}" height="${panelHeight}" rx="${layout.panelPadding}" fill="rgba(0,0,0,0.45)"/>`;

  const promptLines = lines
    .map(
      (line, index) =>
        `<tspan x="${layout.promptX}" y="${layout.promptFirstBaseline + index * layout.promptLineHeight}">${escapeXml(line)}</tspan>`,
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
    layout.staticMarkup +
    panel +
    `<text font-family="${FONT_FAMILY}" font-size="${layout.promptFontSize}" fill="#ffffff">${promptLines}</text>` +
    `</svg>`
  );
}

/**
 * Estimated advance of one code point in ems of DejaVu Sans. Slightly generous, so a line that
 * fits the estimate fits the panel; exact shaping would need the font itself.
 */
function characterEms(character: string): number {
  if (character === " ") return 0.32;
  if (/\p{M}/u.test(character)) return 0;
  if (/[fijlrtI.,:;'!|()[\]]/.test(character)) return 0.42;
  if (/[mwMW@%]/.test(character)) return 1;
  if (/[A-Z]/.test(character)) return 0.76;
  if (/[\x21-\x7e]/.test(character)) return 0.64;
  if (/\p{Extended_Pictographic}/u.test(character)) return 1.25;
  if (/[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{20000}-\u{3fffd}]/u.test(character)) {
    return 1.05;
  }
  return 0.75;
}

function measureEms(text: string): number {
  let ems = 0;
  for (const character of text) ems += characterEms(character);
  return ems;
}

/**
 * Greedy word wrap into at most `maxLines` lines; text that does not fit ends in an ellipsis.
 * Explicit line breaks in the prompt are kept (runs of blank lines collapse to one).
 */
export function wrapText(text: string, maxLineEms: number, maxLines: number): string[] {
  const lines: string[] = [];
  const spaceEms = characterEms(" ");
  let current = "";
  let currentEms = 0;
  let blankLinePending = false;

  /** Ends the current line; false when there is no room for it (the text is truncated). */
  const breakLine = (): boolean => {
    if (current === "") return true;
    const needed = blankLinePending && lines.length > 0 ? 2 : 1;
    if (lines.length + needed > maxLines) return false;
    if (needed === 2) lines.push("");
    blankLinePending = false;
    lines.push(current);
    current = "";
    currentEms = 0;
    return true;
  };

  const finish = (truncated: boolean): string[] => {
    if (!truncated) return lines;
    // The line that did not fit is dropped; the last one kept shows that text follows.
    const last = lines.pop() ?? "";
    lines.push(withEllipsis(last, maxLineEms));
    return lines;
  };

  for (const paragraph of sanitizeForXml(text).split(/\r\n|\r|\n/)) {
    const words = paragraph.split(/[\t\f\v ]+/).filter((word) => word.length > 0);
    if (words.length === 0) {
      blankLinePending = true;
      continue;
    }
    for (const word of words) {
      const wordEms = measureEms(word);
      const joinedEms = current === "" ? wordEms : currentEms + spaceEms + wordEms;
      if (joinedEms <= maxLineEms) {
        current = current === "" ? word : `${current} ${word}`;
        currentEms = joinedEms;
        continue;
      }
      if (!breakLine()) return finish(true);
      // A word wider than a whole line is cut wherever the line is full.
      for (const character of word) {
        const ems = characterEms(character);
        if (current !== "" && currentEms + ems > maxLineEms && !breakLine()) return finish(true);
        current += character;
        currentEms += ems;
      }
    }
    if (!breakLine()) return finish(true);
  }
  return finish(false);
}

function withEllipsis(line: string, maxLineEms: number): string {
  const characters = Array.from(line.trimEnd());
  const budget = maxLineEms - measureEms(ELLIPSIS);
  while (characters.length > 0 && measureEms(characters.join("")) > budget) characters.pop();
  return `${characters.join("").trimEnd()}${ELLIPSIS}`;
}

/**
 * XML 1.0 forbids most control characters, and one in the prompt would make the SVG unparseable.
 * Lone surrogates are left alone: UTF-8 encoding already turns them into U+FFFD.
 */
function sanitizeForXml(text: string): string {
  return text.replace(/[\p{Cc}\ufffe\uffff]/gu, (character) => (character === "\n" || character === "\r" ? character : " "));
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => {
    switch (character) {
      case "&":
        return "&amp;";
      case "<":
        return "&lt;";
      case ">":
        return "&gt;";
      case '"':
        return "&quot;";
      default:
        return "&apos;";
    }
  });
}
