import sharp from "sharp";
import { BASE_RATIOS, EXTREME_RATIOS, pixelSize, type FixedAspectRatio } from "../../src/domain/catalog/aspect-ratios.ts";

/** Output pixel size per aspect ratio of gemini-2.5-flash-image, as the upstream really answers. */
export const FAKE_GEMINI_PIXEL_SIZES: Readonly<Record<string, { width: number; height: number }>> = {
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
};

/** With no aspectRatio and a text-only prompt the model answers square. */
export const FAKE_GEMINI_DEFAULT_SIZE = { width: 1024, height: 1024 } as const;

export interface PixelSize {
  width: number;
  height: number;
}

/**
 * What one upstream model accepts and how large it answers, as Google's guide describes its
 * families. Kept apart from the server's own table on purpose: the fake plays Google, so a
 * mistake in the server's table shows as a 400 here instead of being copied.
 */
export interface FakeGeminiModel {
  ratios: readonly string[];
  /** imageSize values accepted (exact case); empty: the field is refused. */
  imageSizes: readonly string[];
  googleSearch: boolean;
  thinking: boolean;
  /** The result's size for a ratio the model knows, at an imageSize it accepts (null: its default). */
  sizeOf(ratio: string, imageSize: string | null): PixelSize;
}

const FOURTEEN: readonly string[] = [...BASE_RATIOS, ...EXTREME_RATIOS];

/** Google's Gemini 3 table: 1K as printed, 2K and 4K scaled, "512" half of 1K. */
function gemini3Size(ratio: string, imageSize: string | null): PixelSize {
  if (imageSize === "512") {
    const base = pixelSize(ratio as FixedAspectRatio, "1K");
    return { width: base.width / 2, height: base.height / 2 };
  }
  return pixelSize(ratio as FixedAspectRatio, imageSize === "2K" || imageSize === "4K" ? imageSize : "1K");
}

const GEMINI_25: FakeGeminiModel = {
  ratios: BASE_RATIOS,
  imageSizes: [],
  googleSearch: false,
  thinking: false,
  sizeOf: (ratio) => FAKE_GEMINI_PIXEL_SIZES[ratio] ?? FAKE_GEMINI_DEFAULT_SIZE,
};

const FAMILIES: readonly (readonly [prefix: string, model: FakeGeminiModel])[] = [
  ["gemini-2.5-flash-image", GEMINI_25],
  ["gemini-3-pro-image", { ratios: BASE_RATIOS, imageSizes: ["1K", "2K", "4K"], googleSearch: true, thinking: true, sizeOf: gemini3Size }],
  ["gemini-3.1-flash-lite-image", { ratios: FOURTEEN, imageSizes: ["1K"], googleSearch: false, thinking: true, sizeOf: gemini3Size }],
  ["gemini-3.1-flash-image", { ratios: FOURTEEN, imageSizes: ["512", "1K", "2K", "4K"], googleSearch: true, thinking: true, sizeOf: gemini3Size }],
];

/** Any other id (gemini-nano-banana-2.1, a test's own id) answers like the newest family. */
const NEWEST: FakeGeminiModel = { ratios: FOURTEEN, imageSizes: ["1K", "2K", "4K"], googleSearch: true, thinking: true, sizeOf: gemini3Size };

export function fakeGeminiModel(id: string): FakeGeminiModel {
  return FAMILIES.find(([prefix]) => id.startsWith(prefix))?.[1] ?? NEWEST;
}

/** The model's ratio nearest to the shape of a `width` x `height` image, by the logarithm of width/height. */
export function nearestRatio(model: FakeGeminiModel, width: number, height: number): string {
  const distance = (ratio: string): number => {
    const [across = 1, down = 1] = ratio.split(":").map(Number);
    return Math.abs(Math.log(width / height) - Math.log(across / down));
  };
  return model.ratios.reduce((best, ratio) => (distance(ratio) < distance(best) ? ratio : best));
}

/** Interim "thought" images are small drafts; their size tells them apart from the final image. */
export const FAKE_GEMINI_THOUGHT_SIZE = { width: 256, height: 256 } as const;

export type FakeImageFormat = "png" | "jpeg";

/**
 * Makes real images with sharp, cached per size and format: a solid colour compresses to a few
 * kilobytes in milliseconds, so even benchmarks are not slowed by the fake.
 */
export class FakeImageCache {
  readonly #images = new Map<string, Promise<Buffer>>();

  get(width: number, height: number, format: FakeImageFormat): Promise<Buffer> {
    const key = `${width}x${height}.${format}`;
    let image = this.#images.get(key);
    if (image === undefined) {
      image = render(width, height, format);
      this.#images.set(key, image);
    }
    return image;
  }
}

async function render(width: number, height: number, format: FakeImageFormat): Promise<Buffer> {
  // A colour per size, so a mix-up between ratios shows in a saved image too.
  const background = { r: (width * 7) % 256, g: (height * 5) % 256, b: 160 };
  const canvas = sharp({ create: { width, height, channels: 3, background } });
  return format === "png" ? canvas.png({ compressionLevel: 1 }).toBuffer() : canvas.jpeg({ quality: 80 }).toBuffer();
}
