import type { FastifyReply, FastifyRequest } from "fastify";
import type { AccountService } from "../domain/accounts/account-service.ts";
import { fail } from "./envelope.ts";

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * Sets `request.caller` from the bearer key, or answers 401 for a missing, malformed, unknown or
 * revoked key; answers whether the request may go on.
 */
export async function authenticate(request: FastifyRequest, reply: FastifyReply, accounts: AccountService): Promise<boolean> {
  const header = request.headers.authorization;
  const match = header === undefined ? null : BEARER.exec(header);
  const caller = match?.[1] === undefined ? null : await accounts.authenticate(match[1]);
  if (caller !== null) {
    request.caller = caller;
    return true;
  }
  reply.header("WWW-Authenticate", 'Bearer realm="imagegate"');
  fail(
    reply,
    "UNAUTHORIZED",
    header === undefined
      ? "Authentication failed: send the header Authorization: Bearer <api key>."
      : "Authentication failed: the API key is malformed, unknown or revoked.",
  );
  return false;
}
