import type { SwaggerTransform } from "@fastify/swagger";
import type { FastifyInstance } from "fastify";
import type { ApiContext } from "../context.ts";
import { rangeStillApplies, requestedRange } from "../byte-range.ts";
import { errorResponseSchema, fail, JSON_CONTENT_TYPE } from "../envelope.ts";

const binary = { schema: { type: "string", format: "binary" } };
const imageContent = { "image/png": binary, "image/jpeg": binary };
const fileHeaders = {
  ETag: { type: "string", description: "The file's version; send it back as If-None-Match or If-Range." },
  "Cache-Control": { type: "string", description: "public, max-age until the URL expires, immutable." },
  "Last-Modified": { type: "string" },
  "Accept-Ranges": { type: "string", enum: ["bytes"] },
};

/** The route's wildcard documented as the two parts of the paths the server signs. */
const documentedAsDayAndFile: SwaggerTransform = ({ schema, url }) => ({
  url: url.replace(/\*$/, ":day/:file"),
  schema: {
    ...schema,
    params: {
      type: "object",
      required: ["day", "file"],
      properties: {
        day: { type: "string", pattern: "^\\d{4}-\\d{2}-\\d{2}$", description: "UTC day the image was stored, as in its resultUrl." },
        file: { type: "string", pattern: "^task_[0-9a-z]{26}\\.(png|jpg)$", description: "The task's id and the image's extension." },
      },
    },
  },
});

/** Serves result files at their signed URLs. */
export function registerFiles(app: FastifyInstance, context: ApiContext): void {
  app.get(
    "/files/*",
    {
      schema: {
        operationId: "getFile",
        summary: "Download a result file (signed URL)",
        description:
          "Answers the image (304 to a matching If-None-Match). A single byte range (Range: bytes=0-99, bytes=100-, bytes=-100) is answered 206 with Content-Range; a range starting past the end is 416; several ranges, or an If-Range naming another version, get the whole file.",
        tags: ["files"],
        querystring: {
          type: "object",
          required: ["expires", "signature"],
          properties: {
            expires: { type: "string", pattern: "^\\d+$", description: "Unix seconds after which the URL answers 404; part of the signed URL." },
            signature: { type: "string", description: "The URL's signature; a URL changed in any part answers 403." },
          },
        },
        response: {
          200: { description: "The whole image.", headers: fileHeaders, content: imageContent },
          206: {
            description: "The single byte range asked for with Range.",
            headers: { ...fileHeaders, "Content-Range": { type: "string", description: "bytes START-END/SIZE" } },
            content: imageContent,
          },
          304: { type: "null", description: "Not modified: If-None-Match named the file's ETag." },
          403: errorResponseSchema("The signature does not match the URL."),
          404: errorResponseSchema("The URL has expired, or the file has passed its retention period."),
          416: errorResponseSchema("The range starts past the end of the file; Content-Range: bytes */SIZE gives its size."),
        },
      },
      // Answered at any path under /files/, but the server only ever signs /files/DAY/FILE.
      config: { swaggerTransform: documentedAsDayAndFile },
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
      const { blob } = opened;
      const maxAge = Math.max(0, Number(query.expires) - nowSeconds);
      const lastModified = new Date(blob.createdAt).toUTCString();
      reply
        .header("Content-Type", blob.contentType)
        .header("ETag", blob.etag)
        .header("Cache-Control", `public, max-age=${maxAge}, immutable`)
        .header("Last-Modified", lastModified)
        .header("Accept-Ranges", "bytes");
      if (request.headers["if-none-match"] === blob.etag) {
        await opened.close();
        return reply.code(304).send();
      }
      // With If-Range, a range is sent only while the file is still the version the client holds part of.
      const range = rangeStillApplies(request.headers["if-range"], blob.etag, lastModified)
        ? requestedRange(request.headers.range, blob.size)
        : null;
      if (range === "unsatisfiable") {
        await opened.close();
        reply.header("Content-Range", `bytes */${blob.size}`).header("Content-Type", JSON_CONTENT_TYPE);
        return reply.code(416).send({ code: 416, msg: `The requested range is not within the file's ${blob.size} bytes.`, data: null });
      }
      if (range !== null) {
        reply.header("Content-Range", `bytes ${range.start}-${range.end}/${blob.size}`).header("Content-Length", range.end - range.start + 1);
        return reply.code(206).send(opened.read(range));
      }
      reply.header("Content-Length", blob.size);
      return reply.code(200).send(opened.read());
    },
  );
}
