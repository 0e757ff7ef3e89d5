import { crc32 } from "node:zlib";
import { describe, it, expect } from "vitest";
import sharp from "sharp";
import { detectImageFormat } from "../../src/domain/image-format.ts";
import { pngHeader, processImage } from "../../src/images/process-image.ts";
import { ProviderError } from "../../src/providers/image-provider.ts";

const WIDTH = 64;
const HEIGHT = 48;

/** A small picture whose left half is opaque red and right half fully transparent. */
async function halfTransparentPng(): Promise<Buffer> {
  const pixels = Buffer.alloc(WIDTH * HEIGHT * 4);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH / 2; x++) {
      pixels.set([255, 0, 0, 255], (y * WIDTH + x) * 4);
    }
  }
  return sharp(pixels, { raw: { width: WIDTH, height: HEIGHT, channels: 4 } }).png().toBuffer();
}

async function solidImage(format: "png" | "jpeg" | "webp" | "gif"): Promise<Buffer> {
  return sharp({ create: { width: WIDTH, height: HEIGHT, channels: 3, background: "#3366cc" } })
    .toFormat(format)
    .toBuffer();
}

async function expectInvalidOutput(promise: Promise<unknown>): Promise<void> {
  const error: unknown = await promise.then(
    () => null,
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(ProviderError);
  expect(error).toMatchObject({
    code: "INVALID_OUTPUT",
    message: "The image model returned no usable image.",
    retryable: false,
  });
}

describe("detectImageFormat", () => {
  it("recognises PNG, JPEG, WebP and GIF from their magic bytes", async () => {
    expect(detectImageFormat(await solidImage("png"))).toBe("png");
    expect(detectImageFormat(await solidImage("jpeg"))).toBe("jpeg");
    expect(detectImageFormat(await solidImage("webp"))).toBe("webp");
    expect(detectImageFormat(await solidImage("gif"))).toBe("gif");
  });

  it("returns null for empty, short and unknown bytes", () => {
    expect(detectImageFormat(Buffer.alloc(0))).toBeNull();
    expect(detectImageFormat(Buffer.from([0x89, 0x50]))).toBeNull();
    expect(detectImageFormat(Buffer.from("RIFF\0\0\0\0WAVE", "latin1"))).toBeNull();
    expect(detectImageFormat(Buffer.from("<svg xmlns='http://www.w3.org/2000/svg'/>"))).toBeNull();
  });
});

describe("processImage", () => {
  it("returns the very same Buffer when the source is already the asked format", async () => {
    const png = await solidImage("png");
    const result = await processImage(png, "png", { width: WIDTH, height: HEIGHT });
    expect(result.bytes).toBe(png);
    expect(result).toMatchObject({
      format: "png",
      contentType: "image/png",
      width: WIDTH,
      height: HEIGHT,
      sourceFormat: "png",
      sizeMatches: true,
    });
  });

  it("passes JPEG through untouched when JPEG is asked", async () => {
    const jpeg = await solidImage("jpeg");
    const result = await processImage(jpeg, "jpeg", null);
    expect(result.bytes).toBe(jpeg);
    expect(result.contentType).toBe("image/jpeg");
  });

  it("converts PNG to a decodable JPEG of the same size, flattening transparency onto white", async () => {
    const result = await processImage(await halfTransparentPng(), "jpeg", { width: WIDTH, height: HEIGHT });
    expect(result).toMatchObject({
      format: "jpeg",
      contentType: "image/jpeg",
      width: WIDTH,
      height: HEIGHT,
      sourceFormat: "png",
      sizeMatches: true,
    });
    expect(detectImageFormat(result.bytes)).toBe("jpeg");
    const decoded = await sharp(result.bytes).raw().toBuffer({ resolveWithObject: true });
    expect(decoded.info).toMatchObject({ width: WIDTH, height: HEIGHT, channels: 3 });
    const rightEdge = ((HEIGHT / 2) * WIDTH + WIDTH - 1) * 3;
    expect([...decoded.data.subarray(rightEdge, rightEdge + 3)].every((value) => value >= 250)).toBe(true);
  });

  it("converts JPEG to a decodable PNG of the same size", async () => {
    const result = await processImage(await solidImage("jpeg"), "png", null);
    expect(result).toMatchObject({ format: "png", contentType: "image/png", width: WIDTH, height: HEIGHT, sourceFormat: "jpeg" });
    expect(detectImageFormat(result.bytes)).toBe("png");
    const metadata = await sharp(result.bytes).metadata();
    expect(metadata).toMatchObject({ format: "png", width: WIDTH, height: HEIGHT });
  });

  it("detects JPEG bytes whatever the upstream declared, and converts them when PNG is asked", async () => {
    // An upstream that labels JPEG bytes image/png: processImage never sees the label.
    const jpeg = await solidImage("jpeg");
    const result = await processImage(jpeg, "png", null);
    expect(result.sourceFormat).toBe("jpeg");
    expect(result.bytes).not.toBe(jpeg);
    expect(detectImageFormat(result.bytes)).toBe("png");
  });

  it("converts WebP to PNG", async () => {
    const result = await processImage(await solidImage("webp"), "png", null);
    expect(result.sourceFormat).toBe("webp");
    expect((await sharp(result.bytes).metadata()).format).toBe("png");
  });

  it("reports a size mismatch without failing", async () => {
    const result = await processImage(await solidImage("png"), "png", { width: 1024, height: 1024 });
    expect(result.sizeMatches).toBe(false);
    expect(result.width).toBe(WIDTH);
    expect(result.height).toBe(HEIGHT);
  });

  it("treats a missing expectation as a match", async () => {
    const result = await processImage(await solidImage("png"), "jpeg", null);
    expect(result.sizeMatches).toBe(true);
  });

  it("rejects empty bytes as INVALID_OUTPUT", async () => {
    await expectInvalidOutput(processImage(Buffer.alloc(0), "png", null));
  });

  it("rejects garbage bytes as INVALID_OUTPUT", async () => {
    await expectInvalidOutput(processImage(Buffer.from("this is not an image at all"), "png", null));
  });

  it("rejects a PNG signature followed by garbage as INVALID_OUTPUT", async () => {
    const bytes = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 7)]);
    await expectInvalidOutput(processImage(bytes, "jpeg", null));
  });

  it("rejects a truncated PNG even when no conversion is needed", async () => {
    const noise = Buffer.alloc(WIDTH * HEIGHT * 3);
    for (let index = 0; index < noise.length; index++) noise[index] = (index * 7919) % 251;
    const png = await sharp(noise, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } }).png().toBuffer();
    await expectInvalidOutput(processImage(png.subarray(0, Math.floor(png.length / 2)), "png", null));
  });

  it("rejects a PNG whose pixel data was altered, by its chunk checksum", async () => {
    const png = await halfTransparentPng();
    const idat = png.indexOf("IDAT");
    const corrupt = Buffer.from(png);
    corrupt[idat + 10] = (corrupt[idat + 10] ?? 0) ^ 0xff;
    await expectInvalidOutput(processImage(corrupt, "png", null));
  });

  it("rejects a PNG signature followed by garbage when PNG is asked", async () => {
    const bytes = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 7)]);
    await expectInvalidOutput(processImage(bytes, "png", null));
  });

  it("keeps a PNG asked as PNG with the size its header says", async () => {
    const png = await sharp({ create: { width: 832, height: 1248, channels: 4, background: "#3366cc80" } }).png().toBuffer();
    const result = await processImage(png, "png", { width: 832, height: 1248 });
    expect(result).toMatchObject({ bytes: png, width: 832, height: 1248, sourceFormat: "png", sizeMatches: true });
  });

  describe("rejects a PNG whose header PNG does not allow, though every checksum is right", () => {
    const cases: [string, (header: Buffer) => void][] = [
      ["a zero width", (header) => header.writeUInt32BE(0, 8)],
      ["a zero height", (header) => header.writeUInt32BE(0, 12)],
      ["bit depth 4 for RGB", (header) => header.writeUInt8(4, 16)],
      ["colour type 5", (header) => header.writeUInt8(5, 17)],
      ["compression method 1", (header) => header.writeUInt8(1, 18)],
      ["interlace method 2", (header) => header.writeUInt8(2, 20)],
      ["another chunk first", (header) => header.write("tEXt", 4, "latin1")],
    ];
    for (const [name, alter] of cases) {
      it(name, async () => {
        const png = Buffer.from(await solidImage("png"));
        // The IHDR chunk: length, name, 13 bytes of data, then the CRC of name and data.
        const header = png.subarray(8, 8 + 8 + 13 + 4);
        alter(header);
        header.writeUInt32BE(crc32(header.subarray(4, 8 + 13)), 8 + 13);
        await expectInvalidOutput(processImage(png, "png", null));
      });
    }
  });

  it("reads from the PNG header the size sharp reads", async () => {
    const images = [
      await sharp({ create: { width: 31, height: 7, channels: 3, background: "#102030" } }).png({ palette: true }).toBuffer(),
      await sharp({ create: { width: 5, height: 300, channels: 4, background: "#10203040" } }).png().toBuffer(),
      await sharp({ create: { width: 640, height: 2, channels: 3, background: "#808080" } }).toColourspace("grey16").png().toBuffer(),
      await halfTransparentPng(),
    ];
    for (const image of images) {
      const metadata = await sharp(image).metadata();
      expect(pngHeader(image)).toEqual({ width: metadata.width, height: metadata.height });
    }
  });

  it("rejects a truncated JPEG when JPEG is asked", async () => {
    const jpeg = await solidImage("jpeg");
    await expectInvalidOutput(processImage(jpeg.subarray(0, jpeg.length - 10), "jpeg", null));
  });

  it("rejects SVG, which sharp can decode but is not a raster image", async () => {
    const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}"><rect width="100%" height="100%"/></svg>`);
    await expectInvalidOutput(processImage(svg, "png", null));
  });
});
