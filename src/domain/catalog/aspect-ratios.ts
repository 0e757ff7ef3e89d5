export const ASPECT_RATIOS = ["1:1", "9:16", "16:9", "3:4", "4:3", "3:2", "2:3", "5:4", "4:5", "21:9", "auto"] as const;
export type AspectRatio = (typeof ASPECT_RATIOS)[number];

export interface PixelSize {
  width: number;
  height: number;
}

/**
 * Output pixel size per ratio (the Gemini 2.5 Flash Image table of CONTRACT.md). `auto` lets the
 * model decide; for a text-only prompt that is 1024x1024.
 */
export const PIXEL_SIZES: Readonly<Record<AspectRatio, PixelSize>> = {
  "1:1": { width: 1024, height: 1024 },
  "2:3": { width: 832, height: 1248 },
  "3:2": { width: 1248, height: 832 },
  "3:4": { width: 864, height: 1184 },
  "4:3": { width: 1184, height: 864 },
  "4:5": { width: 896, height: 1152 },
  "5:4": { width: 1152, height: 896 },
  "9:16": { width: 768, height: 1344 },
  "16:9": { width: 1344, height: 768 },
  "21:9": { width: 1536, height: 672 },
  auto: { width: 1024, height: 1024 },
};

export const OUTPUT_FORMATS = ["png", "jpeg"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const CONTENT_TYPES: Readonly<Record<OutputFormat, string>> = {
  png: "image/png",
  jpeg: "image/jpeg",
};
