import { isIP } from "node:net";

/**
 * A URL that may be fetched, split into what the guard needs. Parsing is left to WHATWG `URL`:
 * it already rewrites every legacy IPv4 spelling (decimal "2130706433", octal "0177.0.0.1",
 * hex "0x7f.1") to dotted form, so the address check sees the address a client would dial.
 */
export interface OutboundTarget {
  url: URL;
  /** The hostname without IPv6 brackets: what DNS is asked about, or the literal address. */
  hostname: string;
  /** The hostname when it is an IP literal (no DNS lookup needed); null for a DNS name. */
  literalAddress: string | null;
  /** The TLS server name (SNI and certificate check); null for IP literals, which SNI cannot carry. */
  serverName: string | null;
}

export type OutboundTargetParse = { ok: true; target: OutboundTarget } | { ok: false; reason: string };

export function parseOutboundUrl(text: string): OutboundTargetParse {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: "is not a valid URL" };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { ok: false, reason: `uses scheme ${url.protocol}, only http and https are allowed` };
  }
  // fetch() refuses credentials in URLs too; silently dropping them would hide a misconfiguration.
  if (url.username !== "" || url.password !== "") {
    return { ok: false, reason: "must not contain credentials" };
  }
  const hostname = unbracketHostname(url.hostname);
  if (hostname === "") return { ok: false, reason: "has no host" };
  const literalAddress = isIP(hostname) === 0 ? null : hostname;
  return {
    ok: true,
    target: { url, hostname, literalAddress, serverName: literalAddress === null ? hostname : null },
  };
}

/** `URL.hostname` keeps the brackets of an IPv6 literal ("[::1]"); DNS and sockets want them gone. */
export function unbracketHostname(hostname: string): string {
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}
