import { isIP } from "node:net";

/**
 * Which IP addresses an outbound request may reach. Anything that is not public unicast is
 * refused: a user-supplied URL must not become a way into the server's own network, its
 * loopback services or the cloud metadata endpoint.
 */
export type AddressClassification = { public: true } | { public: false; reason: string };

/** A CIDR block, e.g. 10.0.0.0/8 or fc00::/7. Addresses are held as bigints so one type covers both families. */
export interface Network {
  family: 4 | 6;
  /** The network address with host bits cleared. */
  base: bigint;
  prefixLength: number;
}

interface ParsedAddress {
  family: 4 | 6;
  value: bigint;
  /** Set when an IPv6 address carried a zone ("fe80::1%eth0"). */
  zone: string | null;
}

const IPV4_BITS = 32;
const IPV6_BITS = 128;
const IPV4_MASK = 0xffff_ffffn;

/** Parses an IPv4 or IPv6 literal (no brackets). Returns null for anything `isIP` rejects. */
function parseAddress(text: string): ParsedAddress | null {
  const zoneStart = text.indexOf("%");
  const address = zoneStart === -1 ? text : text.slice(0, zoneStart);
  const zone = zoneStart === -1 ? null : text.slice(zoneStart + 1);
  const family = isIP(address);
  if (family === 4) {
    return zone === null ? { family: 4, value: parseIpv4(address), zone: null } : null;
  }
  if (family === 6) {
    return { family: 6, value: parseIpv6(address), zone };
  }
  return null;
}

/** `text` has already passed `isIP(text) === 4`: four decimal octets. */
function parseIpv4(text: string): bigint {
  return text.split(".").reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n);
}

/** `text` has already passed `isIP(text) === 6`, so the shape is trusted here. */
function parseIpv6(text: string): bigint {
  const toGroups = (part: string): number[] => {
    if (part === "") return [];
    const groups: number[] = [];
    for (const piece of part.split(":")) {
      if (piece.includes(".")) {
        const embedded = Number(parseIpv4(piece));
        groups.push(Math.floor(embedded / 0x1_0000), embedded % 0x1_0000);
      } else {
        groups.push(Number.parseInt(piece, 16));
      }
    }
    return groups;
  };
  const doubleColon = text.indexOf("::");
  let groups: number[];
  if (doubleColon === -1) {
    groups = toGroups(text);
  } else {
    const head = toGroups(text.slice(0, doubleColon));
    const tail = toGroups(text.slice(doubleColon + 2));
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  return groups.reduce((value, group) => (value << 16n) | BigInt(group), 0n);
}

function bitsOf(family: 4 | 6): number {
  return family === 4 ? IPV4_BITS : IPV6_BITS;
}

function contains(network: Network, family: 4 | 6, value: bigint): boolean {
  if (network.family !== family) return false;
  const shift = BigInt(bitsOf(family) - network.prefixLength);
  return value >> shift === network.base >> shift;
}

/**
 * Parses "10.0.0.0/8", "::1/128" or a bare address (a single host). Host bits set below the
 * prefix ("10.1.2.3/8") are rejected rather than silently masked: that is usually a typo in
 * configuration, and an allowlist is the wrong place to guess.
 */
export function parseNetwork(text: string): Network | null {
  const trimmed = text.trim();
  const slash = trimmed.indexOf("/");
  const addressText = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const parsed = parseAddress(addressText);
  if (parsed === null || parsed.zone !== null) return null;
  const bits = bitsOf(parsed.family);
  let prefixLength = bits;
  if (slash !== -1) {
    const prefixText = trimmed.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText)) return null;
    prefixLength = Number(prefixText);
    if (prefixLength > bits) return null;
  }
  const hostBits = BigInt(bits - prefixLength);
  const hostMask = (1n << hostBits) - 1n;
  if ((parsed.value & hostMask) !== 0n) return null;
  return { family: parsed.family, base: parsed.value, prefixLength };
}

/**
 * Parses a comma-separated allowlist such as "127.0.0.0/8,::1/128,10.1.2.3". Blank entries are
 * ignored; any invalid entry makes the whole list invalid (null), so a typo fails loudly at
 * startup instead of quietly allowing less (or more) than intended.
 */
export function parseNetworkList(text: string): Network[] | null {
  const networks: Network[] = [];
  for (const entry of text.split(",")) {
    if (entry.trim() === "") continue;
    const network = parseNetwork(entry);
    if (network === null) return null;
    networks.push(network);
  }
  return networks;
}

/** Whether `ip` lies in any of `networks`. An IPv4-mapped IPv6 address also matches IPv4 networks. */
export function isInNetworks(ip: string, networks: readonly Network[]): boolean {
  const parsed = parseAddress(ip);
  if (parsed === null) return false;
  const mapped = parsed.family === 6 && contains(IPV4_MAPPED, 6, parsed.value) ? parsed.value & IPV4_MASK : null;
  return networks.some(
    (network) => contains(network, parsed.family, parsed.value) || (mapped !== null && contains(network, 4, mapped)),
  );
}

function network(text: string): Network {
  const parsed = parseNetwork(text);
  if (parsed === null) throw new Error(`invalid built-in network ${text}`);
  return parsed;
}

// First match wins, so the broadcast address comes before the reserved block that contains it.
const IPV4_RULES: ReadonlyArray<readonly [Network, string]> = [
  [network("255.255.255.255/32"), "broadcast address"],
  [network("0.0.0.0/8"), "unspecified address"],
  [network("10.0.0.0/8"), "private address"],
  [network("100.64.0.0/10"), "carrier-grade NAT address"],
  [network("127.0.0.0/8"), "loopback address"],
  [network("169.254.0.0/16"), "link-local address (cloud metadata)"],
  [network("172.16.0.0/12"), "private address"],
  [network("192.0.0.0/24"), "IETF protocol assignment address"],
  [network("192.0.2.0/24"), "documentation address"],
  [network("192.88.99.0/24"), "6to4 relay anycast address"],
  [network("192.168.0.0/16"), "private address"],
  [network("198.18.0.0/15"), "benchmarking address"],
  [network("198.51.100.0/24"), "documentation address"],
  [network("203.0.113.0/24"), "documentation address"],
  [network("224.0.0.0/4"), "multicast address"],
  [network("240.0.0.0/4"), "reserved address"],
];

const IPV4_MAPPED = network("::ffff:0:0/96");
const IPV4_COMPATIBLE = network("::/96");
const NAT64_WELL_KNOWN = network("64:ff9b::/96");
const NAT64_LOCAL_USE = network("64:ff9b:1::/48");
const SIX_TO_FOUR = network("2002::/16");
const GLOBAL_UNICAST = network("2000::/3");

// Blocks whose verdict does not depend on an embedded IPv4 address.
const IPV6_RULES: ReadonlyArray<readonly [Network, string]> = [
  [network("::/128"), "unspecified address"],
  [network("::1/128"), "loopback address"],
  [network("100::/64"), "discard-only address"],
  [network("2001::/32"), "Teredo tunnelling address"],
  [network("2001:2::/48"), "benchmarking address"],
  [network("2001:10::/28"), "overlay identifier (ORCHID) address"],
  [network("2001:20::/28"), "overlay identifier (ORCHID) address"],
  [network("2001:db8::/32"), "documentation address"],
  [network("3fff::/20"), "documentation address"],
  [network("fc00::/7"), "unique local (private) address"],
  [network("fe80::/10"), "link-local address"],
  [network("fec0::/10"), "site-local address (deprecated)"],
  [network("ff00::/8"), "multicast address"],
];

function classifyIpv4(value: bigint): AddressClassification {
  for (const [block, reason] of IPV4_RULES) {
    if (contains(block, 4, value)) return { public: false, reason };
  }
  return { public: true };
}

function classifyIpv6(value: bigint): AddressClassification {
  for (const [block, reason] of IPV6_RULES) {
    if (contains(block, 6, value)) return { public: false, reason };
  }
  // A mapped address is how a dual-stack socket reaches IPv4, so it is exactly as safe as the v4 inside.
  if (contains(IPV4_MAPPED, 6, value)) {
    return prefixReason(classifyIpv4(value & IPV4_MASK), "IPv4-mapped");
  }
  if (contains(IPV4_COMPATIBLE, 6, value)) {
    return { public: false, reason: "IPv4-compatible address (deprecated)" };
  }
  // NAT64 is refused even for a public embedded address: the translator sits inside someone's
  // network and may reach IPv4 space this check cannot see. Naming the embedded class helps operators.
  if (contains(NAT64_WELL_KNOWN, 6, value)) {
    const embedded = classifyIpv4(value & IPV4_MASK);
    return {
      public: false,
      reason: embedded.public ? "NAT64 address (reaches IPv4 through a translator)" : `NAT64 ${embedded.reason}`,
    };
  }
  if (contains(NAT64_LOCAL_USE, 6, value)) {
    return { public: false, reason: "local-use NAT64 address (reaches IPv4 through a translator)" };
  }
  // 6to4 carries its IPv4 endpoint in bits 16..47 (2002:AABB:CCDD::/48).
  if (contains(SIX_TO_FOUR, 6, value)) {
    return prefixReason(classifyIpv4((value >> 80n) & IPV4_MASK), "6to4");
  }
  if (!contains(GLOBAL_UNICAST, 6, value)) {
    return { public: false, reason: "reserved address" };
  }
  return { public: true };
}

function prefixReason(classification: AddressClassification, prefix: string): AddressClassification {
  return classification.public ? classification : { public: false, reason: `${prefix} ${classification.reason}` };
}

/** Classifies an IPv4 or IPv6 literal (without brackets). Anything that is not an IP literal is refused. */
export function classifyAddress(ip: string): AddressClassification {
  const parsed = parseAddress(ip);
  if (parsed === null) return { public: false, reason: "not an IP address" };
  if (parsed.family === 4) return classifyIpv4(parsed.value);
  // Zones only make sense for link-local and multicast scopes, neither of which is public.
  if (parsed.zone !== null) return { public: false, reason: "scoped (zone-qualified) address" };
  return classifyIpv6(parsed.value);
}

/** "a private address", "an IPv4-mapped loopback address": reasons read as the end of a sentence. */
export function withArticle(reason: string): string {
  return /^(?:[aeio]|u(?!ni)|IPv|IETF)/i.test(reason) ? `an ${reason}` : `a ${reason}`;
}
