/** The ten ratios every Nano Banana model accepts. */
export const BASE_RATIOS = ["1:1", "9:16", "16:9", "3:4", "4:3", "3:2", "2:3", "5:4", "4:5", "21:9"] as const;
/** The four extreme ratios of the Nano Banana 2 family. */
export const EXTREME_RATIOS = ["1:4", "4:1", "1:8", "8:1"] as const;
export const ASPECT_RATIOS = [...BASE_RATIOS, ...EXTREME_RATIOS, "auto"] as const;
export type AspectRatio = (typeof ASPECT_RATIOS)[number];
/** A ratio that names a shape; `auto` leaves the shape to the model (square, or that of the inputs). */
export type FixedAspectRatio = Exclude<AspectRatio, "auto">;

/** Output resolutions, as Google's imageSize names them. */
export const RESOLUTIONS = ["1K", "2K", "4K"] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

export interface PixelSize {
  width: number;
  height: number;
}

/**
 * Output pixel size per ratio at 1K: Google's table for Gemini 3 Pro Image and 3.1 Flash Image,
 * which the Nano Banana 2.1 and 2 Lite models share. 2K doubles each side, 4K quadruples it.
 */
export const PIXEL_SIZES_1K: Readonly<Record<FixedAspectRatio, PixelSize>> = {
  "1:1": { width: 1024, height: 1024 },
  "2:3": { width: 848, height: 1264 },
  "3:2": { width: 1264, height: 848 },
  "3:4": { width: 896, height: 1200 },
  "4:3": { width: 1200, height: 896 },
  "4:5": { width: 928, height: 1152 },
  "5:4": { width: 1152, height: 928 },
  "9:16": { width: 768, height: 1376 },
  "16:9": { width: 1376, height: 768 },
  "21:9": { width: 1584, height: 672 },
  "1:4": { width: 512, height: 2048 },
  "4:1": { width: 2048, height: 512 },
  "1:8": { width: 384, height: 3072 },
  "8:1": { width: 3072, height: 384 },
};

const SCALE: Readonly<Record<Resolution, number>> = { "1K": 1, "2K": 2, "4K": 4 };

/** The pixel size of `ratio` at `resolution`; `auto` without input images is square. */
export function pixelSize(ratio: AspectRatio, resolution: Resolution = "1K"): PixelSize {
  const base = PIXEL_SIZES_1K[ratio === "auto" ? "1:1" : ratio];
  const scale = SCALE[resolution];
  return { width: base.width * scale, height: base.height * scale };
}

/** Output formats as stored; a client's `jpg` is `jpeg` here. */
export const OUTPUT_FORMATS = ["png", "jpeg"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const CONTENT_TYPES: Readonly<Record<OutputFormat, string>> = {
  png: "image/png",
  jpeg: "image/jpeg",
};
