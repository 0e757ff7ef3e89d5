import multipart from "@fastify/multipart";
import type { FastifyError, FastifyInstance, FastifyReply } from "fastify";
import { DomainError, failure, type Failure, type Result } from "../../domain/errors.ts";
import { sniffImageType } from "../../domain/uploads/image-type.ts";
import { placementOf, type StoredUpload } from "../../domain/uploads/upload-service.ts";
import type { ApiContext } from "../context.ts";
import { errorResponseSchema, fail } from "../envelope.ts";
import { jsonObjectBody } from "../json-body.ts";
import { callerOf } from "../request-fields.ts";

const DATA_URL_PREFIX = /^data:[^,]*?;base64,/i;
const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;
/** Room in a base64 body for the JSON around base64Data: a data URL's prefix, the other fields. */
const JSON_ROOM_BYTES = 16 * 1024;
/** Multipart text fields are names and paths; anything longer is not one. */
const FIELD_MAX_BYTES = 1024;

export interface UploadAnswerData {
  fileName: string;
  filePath: string;
  downloadUrl: string;
  fileSize: number;
  mimeType: string;
  uploadedAt: string;
}

const uploadAnswerSchema = {
  description: "The file is stored; downloadUrl serves it without a key until the upload expires.",
  type: "object",
  required: ["success", "code", "msg", "data"],
  properties: {
    success: { type: "boolean", example: true },
    code: { type: "integer", example: 200 },
    msg: { type: "string", example: "File uploaded successfully" },
    data: {
      type: "object",
      required: ["fileName", "filePath", "downloadUrl", "fileSize", "mimeType", "uploadedAt"],
      properties: {
        fileName: { type: "string", example: "cat.png" },
        filePath: { type: "string", description: "uploadPath/fileName", example: "images/cat.png" },
        downloadUrl: { type: "string", format: "uri", description: "Signed URL, valid until the upload expires; usable as an input image." },
        fileSize: { type: "integer", description: "Bytes stored." },
        mimeType: { type: "string", enum: ["image/png", "image/jpeg", "image/webp", "image/gif"], description: "Sniffed from the bytes." },
        uploadedAt: { type: "string", format: "date-time" },
      },
    },
  },
};

const placementProperties = {
  uploadPath: { type: "string", description: "Folder of the file: letters, digits, - _ . and /, no leading or trailing slash.", example: "images" },
  fileName: { type: "string", description: "Name of the file; the same name again overwrites. Absent: a random name with the sniffed extension." },
};

/** The error envelope of these routes, which carries `success` too (the serializer drops what a schema leaves out). */
function uploadError(description: string): object {
  const schema = errorResponseSchema(description) as { required: string[]; properties: Record<string, unknown> };
  return {
    ...schema,
    required: ["success", ...schema.required],
    properties: { success: { type: "boolean", example: false }, ...schema.properties },
  };
}

const uploadResponses = {
  200: uploadAnswerSchema,
  400: uploadError("A field is missing or invalid; msg names it."),
  401: uploadError("The API key is missing, unknown or revoked."),
  409: uploadError("The path would pass through another upload's file, or name one's folder."),
  413: uploadError("The file is larger than UPLOAD_MAX_BYTES."),
  415: uploadError("The bytes are not a PNG, JPEG, WebP or GIF image."),
  429: uploadError("The key's budget for API requests is spent."),
  507: uploadError("The account's uploads would pass UPLOAD_ACCOUNT_MAX_BYTES."),
};

/**
 * The File Upload API of the hosted services: its envelope carries `success` beside code, msg and
 * data, on every answer of these routes, errors included (401 and 429 too, which the guard's hook
 * sends before the route runs).
 */
export async function registerUploads(api: FastifyInstance, context: ApiContext): Promise<void> {
  const { uploads } = context;
  const limits = uploads.limits;
  await api.register(multipart, {
    limits: { fileSize: limits.maxBytes, files: 1, fields: 10, fieldSize: FIELD_MAX_BYTES, parts: 12, headerPairs: 100 },
  });
  api.addHook("preSerialization", async (_request, _reply, payload: unknown) => withSuccess(payload));
  api.setErrorHandler((error: FastifyError | DomainError, request, reply) => {
    if (error instanceof DomainError) return fail(reply, error.code, error.message);
    if (error.statusCode === 413 || error.code === "FST_ERR_CTP_BODY_TOO_LARGE") return answer(reply, uploads.tooLarge());
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return fail(reply, "BAD_REQUEST", `The request could not be read: ${error.message}`);
    }
    request.log.error({ err: error }, "upload failed");
    return fail(reply, "INTERNAL", `Internal server error (request id ${request.id})`);
  });

  const respond = async (reply: FastifyReply, stored: Result<StoredUpload>): Promise<FastifyReply> => {
    if (!stored.ok) return answer(reply, stored);
    const upload = stored.value;
    const data: UploadAnswerData = {
      fileName: upload.fileName,
      filePath: upload.filePath,
      downloadUrl: context.signer.sign(`/files/${upload.key}`, Math.floor(upload.expiresAt / 1000)),
      fileSize: upload.fileSize,
      mimeType: upload.mimeType,
      uploadedAt: new Date(upload.uploadedAt).toISOString(),
    };
    return reply.code(200).send({ success: true, code: 200, msg: "File uploaded successfully", data });
  };

  api.post(
    "/file-base64-upload",
    {
      // Base64 takes 4 bytes for every 3.
      bodyLimit: Math.ceil(limits.maxBytes / 3) * 4 + JSON_ROOM_BYTES,
      schema: {
        operationId: "uploadFileBase64",
        summary: "Upload an image given as base64 or a data URL",
        tags: ["uploads"],
        body: {
          type: "object",
          required: ["base64Data", "uploadPath"],
          properties: { base64Data: { type: "string", description: "Raw base64, or a data URL data:<type>;base64,..." }, ...placementProperties },
        },
        response: uploadResponses,
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const body = jsonObjectBody(request.body, { requirement: "The request body must be a JSON object with base64Data and uploadPath." });
      if (!body.ok) return answer(reply, body);
      const { base64Data, uploadPath, fileName } = body.value;
      if (base64Data === undefined || base64Data === null || base64Data === "") return answer(reply, failure("BAD_REQUEST", "base64Data is required"));
      if (typeof base64Data !== "string") return answer(reply, failure("BAD_REQUEST", "base64Data must be a string of base64 or a data: URL"));
      const placement = placementOf(uploadPath, fileName);
      if (!placement.ok) return answer(reply, placement);
      const bytes = decodeBase64(base64Data);
      if (bytes === null) return answer(reply, failure("BAD_REQUEST", "base64Data is not valid base64"));
      return respond(reply, await uploads.store(caller.accountId, placement.value, bytes));
    },
  );

  api.post(
    "/file-stream-upload",
    {
      schema: {
        operationId: "uploadFileStream",
        summary: "Upload an image as multipart/form-data",
        description: "Fields: file (the image), uploadPath, fileName (optional), in any order.",
        tags: ["uploads"],
        response: uploadResponses,
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      if (!request.isMultipart()) {
        return answer(reply, failure("BAD_REQUEST", "The request must be multipart/form-data with the fields file and uploadPath."));
      }
      const fields: Record<string, unknown> = {};
      let file: Buffer | null = null;
      for await (const part of request.parts()) {
        if (part.type === "file") {
          // Read to the end either way: the fields after it are still to come.
          const bytes = await part.toBuffer();
          if (part.fieldname === "file") file = bytes;
        } else {
          fields[part.fieldname] = part.value;
        }
      }
      if (file === null) return answer(reply, failure("BAD_REQUEST", "file is required"));
      const placement = placementOf(fields.uploadPath, fields.fileName);
      if (!placement.ok) return answer(reply, placement);
      return respond(reply, await uploads.store(caller.accountId, placement.value, file));
    },
  );

  api.post(
    "/file-url-upload",
    {
      schema: {
        operationId: "uploadFileFromUrl",
        summary: "Upload an image the server fetches from a URL",
        description: "The URL is fetched under INPUT_IMAGE_* (address policy, size, time), following at most 5 redirects, each checked again.",
        tags: ["uploads"],
        body: {
          type: "object",
          required: ["fileUrl", "uploadPath"],
          properties: { fileUrl: { type: "string", format: "uri", description: "An http(s) URL of an image." }, ...placementProperties },
        },
        response: uploadResponses,
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const body = jsonObjectBody(request.body, { requirement: "The request body must be a JSON object with fileUrl and uploadPath." });
      if (!body.ok) return answer(reply, body);
      const { fileUrl, uploadPath, fileName } = body.value;
      if (fileUrl === undefined || fileUrl === null || fileUrl === "") return answer(reply, failure("BAD_REQUEST", "fileUrl is required"));
      if (typeof fileUrl !== "string") return answer(reply, failure("BAD_REQUEST", "fileUrl must be a string holding an http(s) URL"));
      const placement = placementOf(uploadPath, fileName);
      if (!placement.ok) return answer(reply, placement);
      const downloaded = await context.downloadImage(fileUrl);
      if (!downloaded.ok) return answer(reply, failure("BAD_REQUEST", downloaded.reason));
      if (sniffImageType(downloaded.bytes) === null) return answer(reply, failure("BAD_REQUEST", "fileUrl is not an image"));
      return respond(reply, await uploads.store(caller.accountId, placement.value, downloaded.bytes));
    },
  );
}

function answer(reply: FastifyReply, result: Failure): FastifyReply {
  return fail(reply, result.code, result.message);
}

/** Adds `success` to an envelope that lacks it; other payloads pass unchanged. */
function withSuccess(payload: unknown): unknown {
  if (typeof payload !== "object" || payload === null || "success" in payload || !("code" in payload)) return payload;
  return { success: payload.code === 200, ...payload };
}

/**
 * Raw base64 (standard or URL-safe alphabet, padding optional, whitespace ignored) or a data URL
 * with ;base64; null when it is neither. Node's own decoder skips what it cannot read, which
 * would store a damaged file instead of answering.
 */
export function decodeBase64(text: string): Buffer | null {
  let payload = text;
  if (/^data:/i.test(text)) {
    const prefix = DATA_URL_PREFIX.exec(text);
    if (prefix === null) return null;
    payload = text.slice(prefix[0].length);
  }
  const compact = payload.replace(/\s+/g, "");
  if (!BASE64.test(compact)) return null;
  const unpadded = compact.replace(/=+$/, "");
  if (unpadded.length % 4 === 1 || (compact.length !== unpadded.length && compact.length % 4 !== 0)) return null;
  return Buffer.from(unpadded.replace(/-/g, "+").replace(/_/g, "/"), "base64");
}
