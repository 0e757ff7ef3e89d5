import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";

const PATH = /^\/(\d{1,4})x(\d{1,4})\.(png|jpeg|webp)$/;
const CONTENT_TYPES = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp" } as const;

/**
 * An image host for reference images: GET /WIDTHxHEIGHT.png (or .jpeg, .webp) answers a solid
 * picture of that size and format, made once. It counts what it was asked for.
 */
export class ImageOrigin {
  readonly requests: string[] = [];
  readonly #images = new Map<string, Promise<Buffer>>();
  #server: Server | null = null;
  url = "";

  static async start(): Promise<ImageOrigin> {
    const origin = new ImageOrigin();
    origin.#server = createServer((request, response) => {
      const path = request.url ?? "";
      origin.requests.push(path);
      const match = PATH.exec(path);
      if (match === null) {
        response.writeHead(404).end();
        return;
      }
      const [, width, height, format] = match as unknown as [string, string, string, keyof typeof CONTENT_TYPES];
      origin.image(Number(width), Number(height), format).then(
        (bytes) => response.writeHead(200, { "Content-Type": CONTENT_TYPES[format], "Content-Length": bytes.length }).end(bytes),
        () => response.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve) => origin.#server?.listen(0, "127.0.0.1", resolve));
    origin.url = `http://127.0.0.1:${(origin.#server.address() as AddressInfo).port}`;
    return origin;
  }

  /** The URL of a picture of this size and format. */
  picture(width: number, height: number, format: keyof typeof CONTENT_TYPES = "png"): string {
    return `${this.url}/${width}x${height}.${format}`;
  }

  image(width: number, height: number, format: keyof typeof CONTENT_TYPES): Promise<Buffer> {
    const key = `${width}x${height}.${format}`;
    let image = this.#images.get(key);
    if (image === undefined) {
      const background = { r: (width * 3) % 256, g: (height * 7) % 256, b: 90 };
      image = sharp({ create: { width, height, channels: 3, background } }).toFormat(format).toBuffer();
      this.#images.set(key, image);
    }
    return image;
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise((resolve) => this.#server?.close(resolve));
  }
}
