import sharp from "sharp";

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
