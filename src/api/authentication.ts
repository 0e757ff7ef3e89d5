import type { FastifyInstance } from "fastify";
import type { ApiContext } from "./context.ts";
import { fail } from "./envelope.ts";

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** Runs first on every /api/v1 route: a missing, malformed, unknown or revoked key is 401. */
export function registerAuthentication(api: FastifyInstance, context: ApiContext): void {
  api.addHook("onRequest", async (request, reply) => {
    const header = request.headers.authorization;
    const match = header === undefined ? null : BEARER.exec(header);
    const caller = match?.[1] === undefined ? null : await context.accounts.authenticate(match[1]);
    if (caller === null) {
      reply.header("WWW-Authenticate", 'Bearer realm="imagegate"');
      return fail(
        reply,
        "UNAUTHORIZED",
        header === undefined
          ? "Authentication failed: send the header Authorization: Bearer <api key>."
          : "Authentication failed: the API key is malformed, unknown or revoked.",
      );
    }
    request.caller = caller;
  });
}
