import { classifyAddress } from "./address-policy.ts";
import { unbracketHostname } from "./host-parsing.ts";

/** Names that resolve only inside a machine or a private network, never on the internet. */
const PRIVATE_NAME = /(?:^|\.)(?:localhost|local|internal|intranet|lan|home\.arpa|corp|private)$/i;

/**
 * Whether an upstream service on the internet could fetch URLs under `baseUrl`: an https or http
 * URL whose host is a public IP address, or a dotted name outside the private suffixes. A guess
 * from the name alone (no DNS lookup): when it says no, the bytes are sent inline, which always works.
 */
export function isPubliclyReachable(baseUrl: string): boolean {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    return false;
  }
  const host = unbracketHostname(url.hostname);
  if (/^[\d.]+$/.test(host) || host.includes(":")) return classifyAddress(host).public;
  return host.includes(".") && !PRIVATE_NAME.test(host);
}
