import type { FastifyInstance } from "fastify";
import type { ApiContext } from "../context.ts";
import { fail } from "../envelope.ts";

/** Serves result files at their signed URLs. */
export function registerFiles(app: FastifyInstance, context: ApiContext): void {
  app.get(
    "/files/*",
    {
      schema: {
        summary: "Download a result file (signed URL)",
        tags: ["files"],
        querystring: {
          type: "object",
          properties: { expires: { type: "string" }, signature: { type: "string" } },
        },
        produces: ["image/png", "image/jpeg"],
      },
    },
    async (request, reply) => {
      const params = request.params as Record<string, string | undefined>;
      const key = params["*"] ?? "";
      const query = request.query as Record<string, string | undefined>;
      const nowSeconds = Math.floor(context.clock.now() / 1000);
      const verdict = context.signer.verify(`/files/${key}`, query, nowSeconds);
      if (verdict === "tampered") return fail(reply, "FORBIDDEN", "This file URL is not valid: its signature does not match.");
      if (verdict === "expired") return fail(reply, "NOT_FOUND", "This file URL has expired.");
      if (key.includes("..") || key.includes("\\")) return fail(reply, "NOT_FOUND", "No such file.");
      const opened = await context.blobs.open(key);
      if (opened === null) return fail(reply, "NOT_FOUND", "No such file: it may have passed its retention period.");
      const { blob, stream } = opened;
      const maxAge = Math.max(0, Number(query.expires) - nowSeconds);
      reply
        .header("Content-Type", blob.contentType)
        .header("ETag", blob.etag)
        .header("Cache-Control", `public, max-age=${maxAge}, immutable`)
        .header("Last-Modified", new Date(blob.createdAt).toUTCString());
      if (request.headers["if-none-match"] === blob.etag) {
        stream.destroy();
        return reply.code(304).send();
      }
      reply.header("Content-Length", blob.size);
      return reply.code(200).send(stream);
    },
  );
}
