import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { fail } from "../envelope.ts";

const BEARER = /^Bearer\s+(\S+)\s*$/i;
const ACCOUNT_KEY_PREFIX = /^ig_(live|test)_/;

export const ADMIN_DISABLED_MESSAGE = "The admin API is disabled: set ADMIN_API_KEY to enable it.";

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** Both sides are hashed first, so the comparison takes the same time whatever their lengths. */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * Runs first on every /admin/v1 route. Only the operator's ADMIN_API_KEY is accepted; account API
 * keys never are, so a leaked customer key cannot reach administration.
 */
export function registerAdminAuthentication(admin: FastifyInstance, adminApiKey: string | null): void {
  admin.addHook("onRequest", async (request, reply) => {
    reply.header("WWW-Authenticate", 'Bearer realm="imagegate-admin"');
    if (adminApiKey === null) return fail(reply, "UNAUTHORIZED", ADMIN_DISABLED_MESSAGE);
    const header = request.headers.authorization;
    if (header === undefined) {
      return fail(reply, "UNAUTHORIZED", "Authentication failed: send the header Authorization: Bearer <admin key>.");
    }
    const token = BEARER.exec(header)?.[1];
    if (token !== undefined && ACCOUNT_KEY_PREFIX.test(token)) {
      return fail(reply, "UNAUTHORIZED", "Authentication failed: account API keys cannot use the admin API; send the admin key.");
    }
    if (token === undefined || !sameSecret(token, adminApiKey)) {
      return fail(reply, "UNAUTHORIZED", "Authentication failed: the admin key is not valid.");
    }
    reply.removeHeader("WWW-Authenticate");
  });
}
