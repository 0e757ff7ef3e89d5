import type { Socket } from "node:net";
import { timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Caller } from "../domain/accounts/account.ts";
import type { AccountService } from "../domain/accounts/account-service.ts";
import type { KeyUsage } from "../domain/accounts/key-usage.ts";
import { fail } from "./envelope.ts";

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** Sets `request.caller`, or answers 401; answers whether the request may go on. */
export type Authenticate = (request: FastifyRequest, reply: FastifyReply) => Promise<boolean>;

/**
 * Sets `request.caller` from the bearer key, or answers 401 for a missing, malformed, unknown or
 * revoked key.
 *
 * A keep-alive client sends the same header on every request of its connection, so each
 * connection keeps the header it last proved and the caller it proved: a request bringing that
 * header again skips hashing the key and is only rechecked (so a key revoked meanwhile fails at
 * once, and changed limits apply at once). The headers are compared in constant time, since one
 * connection from a proxy carries the requests of many clients. Each success is noted in
 * `usage` (in memory; its writes come later, off the request's way).
 */
export function authenticator(accounts: AccountService, usage: KeyUsage): Authenticate {
  const proven = new WeakMap<Socket, { header: Buffer; caller: Caller }>();
  return async (request, reply) => {
    const header = request.headers.authorization;
    const socket = request.raw.socket as Socket | undefined;
    const earlier = header === undefined || socket === undefined ? undefined : proven.get(socket);
    let caller: Caller | null;
    if (earlier !== undefined && header !== undefined && sameHeader(earlier.header, header)) {
      caller = await accounts.recheck(earlier.caller);
    } else {
      const match = header === undefined ? null : BEARER.exec(header);
      caller = match?.[1] === undefined ? null : await accounts.authenticate(match[1]);
      if (caller !== null && header !== undefined && socket !== undefined) {
        proven.set(socket, { header: Buffer.from(header, "latin1"), caller });
      }
    }
    if (caller !== null) {
      request.caller = caller;
      usage.seen(caller.keyId);
      return true;
    }
    if (socket !== undefined) proven.delete(socket);
    reply.header("WWW-Authenticate", 'Bearer realm="imagegate"');
    fail(
      reply,
      "UNAUTHORIZED",
      header === undefined
        ? "Authentication failed: send the header Authorization: Bearer <api key>."
        : "Authentication failed: the API key is malformed, unknown or revoked.",
    );
    return false;
  };
}

function sameHeader(proven: Buffer, header: string): boolean {
  const given = Buffer.from(header, "latin1");
  return given.length === proven.length && timingSafeEqual(given, proven);
}
