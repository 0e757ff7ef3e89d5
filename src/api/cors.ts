import cors from "@fastify/cors";
import type { FastifyInstance } from "fastify";

/** The headers a browser page may send and read; the methods are those of the public API. */
const ALLOWED_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id"];
const EXPOSED_HEADERS = ["X-Request-Id", "RateLimit", "RateLimit-Policy", "Retry-After"];
/** How long a browser may reuse a preflight answer before asking again. */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/**
 * Lets browser pages on other origins call the API: any origin ("*"), or only those listed. Keys
 * travel in the Authorization header, never in cookies, so credentials are not allowed.
 */
export async function registerCors(app: FastifyInstance, origins: "*" | readonly string[]): Promise<void> {
  await app.register(cors, {
    origin: origins === "*" ? "*" : [...origins],
    methods: ["GET", "POST"],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    credentials: false,
    maxAge: PREFLIGHT_MAX_AGE_SECONDS,
  });
}
