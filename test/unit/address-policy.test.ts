import { describe, expect, it } from "vitest";
import { classifyAddress, isInNetworks, parseNetworkList, withArticle } from "../../src/net/address-policy.ts";
import { parseOutboundUrl } from "../../src/net/host-parsing.ts";
import { policyFromConfig, refusalReason } from "../../src/net/guarded-fetch.ts";

const refused: ReadonlyArray<readonly [string, string]> = [
  // IPv4
  ["0.0.0.0", "unspecified address"],
  ["0.1.2.3", "unspecified address"],
  ["10.0.0.5", "private address"],
  ["10.255.255.255", "private address"],
  ["100.64.0.1", "carrier-grade NAT address"],
  ["100.127.255.254", "carrier-grade NAT address"],
  ["127.0.0.1", "loopback address"],
  ["127.255.255.254", "loopback address"],
  ["169.254.169.254", "link-local address (cloud metadata)"],
  ["169.254.0.1", "link-local address (cloud metadata)"],
  ["172.16.0.1", "private address"],
  ["172.31.255.255", "private address"],
  ["192.0.0.8", "IETF protocol assignment address"],
  ["192.0.2.1", "documentation address"],
  ["192.88.99.1", "6to4 relay anycast address"],
  ["192.168.1.1", "private address"],
  ["198.18.0.1", "benchmarking address"],
  ["198.19.255.255", "benchmarking address"],
  ["198.51.100.7", "documentation address"],
  ["203.0.113.9", "documentation address"],
  ["224.0.0.1", "multicast address"],
  ["239.255.255.250", "multicast address"],
  ["240.0.0.1", "reserved address"],
  ["255.255.255.254", "reserved address"],
  ["255.255.255.255", "broadcast address"],
  // IPv6
  ["::", "unspecified address"],
  ["::1", "loopback address"],
  ["0:0:0:0:0:0:0:1", "loopback address"],
  ["fc00::1", "unique local (private) address"],
  ["fd00:ec2::254", "unique local (private) address"],
  ["fe80::1", "link-local address"],
  ["febf::1", "link-local address"],
  ["fe80::1%eth0", "scoped (zone-qualified) address"],
  ["fec0::1", "site-local address (deprecated)"],
  ["ff02::1", "multicast address"],
  ["2001:db8::1", "documentation address"],
  ["3fff::1", "documentation address"],
  ["100::1", "discard-only address"],
  ["2001::1", "Teredo tunnelling address"],
  ["2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo tunnelling address"],
  ["2001:2::1", "benchmarking address"],
  ["2001:10::1", "overlay identifier (ORCHID) address"],
  // IPv4-mapped: the embedded address decides, in both spellings.
  ["::ffff:127.0.0.1", "IPv4-mapped loopback address"],
  ["::ffff:7f00:1", "IPv4-mapped loopback address"],
  ["::ffff:10.0.0.5", "IPv4-mapped private address"],
  ["::ffff:a9fe:a9fe", "IPv4-mapped link-local address (cloud metadata)"],
  ["::ffff:0.0.0.0", "IPv4-mapped unspecified address"],
  // IPv4-compatible (deprecated): refused whatever it embeds.
  ["::127.0.0.1", "IPv4-compatible address (deprecated)"],
  ["::8.8.8.8", "IPv4-compatible address (deprecated)"],
  // NAT64: refused even around a public address, and names what it embeds.
  ["64:ff9b::8.8.8.8", "NAT64 address (reaches IPv4 through a translator)"],
  ["64:ff9b::7f00:1", "NAT64 loopback address"],
  ["64:ff9b::169.254.169.254", "NAT64 link-local address (cloud metadata)"],
  ["64:ff9b:1::a00:5", "local-use NAT64 address (reaches IPv4 through a translator)"],
  // 6to4: the embedded endpoint decides.
  ["2002:7f00:1::1", "6to4 loopback address"],
  ["2002:c0a8:101::1", "6to4 private address"],
  ["2002:a9fe:a9fe::", "6to4 link-local address (cloud metadata)"],
  // Outside 2000::/3 and not otherwise named.
  ["::ffff:0:7f00:1", "reserved address"],
  ["4000::1", "reserved address"],
  // Not IP literals at all.
  ["localhost", "not an IP address"],
  ["0177.0.0.1", "not an IP address"],
  ["2130706433", "not an IP address"],
];

const allowed: readonly string[] = [
  "8.8.8.8",
  "1.1.1.1",
  "100.63.255.255",
  "100.128.0.0",
  "172.15.255.255",
  "172.32.0.0",
  "169.253.255.255",
  "2606:4700:4700::1111",
  "2a00:1450:4001:80b::200e",
  "::ffff:8.8.8.8",
  "::ffff:101:101",
  "2002:808:808::1",
];

describe("classifyAddress", () => {
  it.each(refused)("refuses %s as %s", (ip, reason) => {
    expect(classifyAddress(ip)).toEqual({ public: false, reason });
  });

  it.each(allowed)("allows public unicast %s", (ip) => {
    expect(classifyAddress(ip)).toEqual({ public: true });
  });
});

describe("parseNetworkList", () => {
  it("parses CIDR blocks and bare addresses of both families", () => {
    const networks = parseNetworkList(" 127.0.0.0/8, ::1/128 ,10.1.2.3,, fd00::/8");
    expect(networks).toEqual([
      { family: 4, base: 0x7f00_0000n, prefixLength: 8 },
      { family: 6, base: 1n, prefixLength: 128 },
      { family: 4, base: 0x0a01_0203n, prefixLength: 32 },
      { family: 6, base: 0xfdn << 120n, prefixLength: 8 },
    ]);
  });

  it("returns an empty list for empty text", () => {
    expect(parseNetworkList("")).toEqual([]);
  });

  it.each(["10.0.0.0/33", "::/129", "10.1.2.3/8", "localhost", "10.0.0.0/x", "10.0.0/8", "fe80::1%eth0", "0x7f.1"])(
    "rejects the whole list when an entry is %s",
    (entry) => {
      expect(parseNetworkList(`127.0.0.1,${entry}`)).toBeNull();
    },
  );
});

describe("isInNetworks", () => {
  const networks = parseNetworkList("127.0.0.0/8,10.1.2.3,fd00::/8,0.0.0.0/0") ?? [];
  const narrow = parseNetworkList("127.0.0.0/8,10.1.2.3,fd00::/8") ?? [];

  it("matches addresses inside a block and a single host", () => {
    expect(isInNetworks("127.9.9.9", narrow)).toBe(true);
    expect(isInNetworks("10.1.2.3", narrow)).toBe(true);
    expect(isInNetworks("fd12::1", narrow)).toBe(true);
  });

  it("does not match addresses outside", () => {
    expect(isInNetworks("10.1.2.4", narrow)).toBe(false);
    expect(isInNetworks("128.0.0.1", narrow)).toBe(false);
    expect(isInNetworks("fe80::1", narrow)).toBe(false);
    expect(isInNetworks("::1", narrow)).toBe(false);
  });

  it("matches an IPv4-mapped address against IPv4 networks", () => {
    expect(isInNetworks("::ffff:127.0.0.1", narrow)).toBe(true);
    expect(isInNetworks("::ffff:a01:203", narrow)).toBe(true);
  });

  it("matches everything of one family under a /0", () => {
    expect(isInNetworks("203.0.113.1", networks)).toBe(true);
    expect(isInNetworks("2001:db8::1", networks)).toBe(false);
  });

  it("never matches text that is not an address", () => {
    expect(isInNetworks("localhost", networks)).toBe(false);
  });
});

describe("policyFromConfig and refusalReason", () => {
  it("refuses private addresses by default", () => {
    const policy = policyFromConfig(false, undefined);
    expect(policy).toEqual({ allowPrivate: false, allowNetworks: [] });
    expect(refusalReason("127.0.0.1", policy)).toBe("loopback address");
    expect(refusalReason("8.8.8.8", policy)).toBeNull();
  });

  it("allows every address with allowPrivate", () => {
    const policy = policyFromConfig(true, undefined);
    expect(refusalReason("127.0.0.1", policy)).toBeNull();
    expect(refusalReason("169.254.169.254", policy)).toBeNull();
  });

  it("allows only the listed networks with an allowlist", () => {
    const policy = policyFromConfig(false, "127.0.0.1/32");
    expect(refusalReason("127.0.0.1", policy)).toBeNull();
    expect(refusalReason("127.0.0.2", policy)).toBe("loopback address");
    expect(refusalReason("10.0.0.1", policy)).toBe("private address");
  });

  it("throws naming the invalid entry", () => {
    expect(() => policyFromConfig(false, "127.0.0.1, 10.0.0.0/99")).toThrow(
      'CALLBACK_ALLOW_NETWORKS: "10.0.0.0/99" is not an IP address or CIDR network',
    );
  });
});

describe("withArticle", () => {
  it.each([
    ["private address", "a private address"],
    ["IPv4-mapped loopback address", "an IPv4-mapped loopback address"],
    ["unspecified address", "an unspecified address"],
    ["unique local (private) address", "a unique local (private) address"],
    ["NAT64 private address", "a NAT64 private address"],
  ])("%s → %s", (reason, phrase) => {
    expect(withArticle(reason)).toBe(phrase);
  });
});

describe("parseOutboundUrl: WHATWG URL normalises host spellings before the check", () => {
  it.each([
    ["http://2130706433/", "127.0.0.1"],
    ["http://0177.0.0.1/", "127.0.0.1"],
    ["http://0x7f.1/", "127.0.0.1"],
    ["http://0x7f000001/", "127.0.0.1"],
    ["http://017700000001/", "127.0.0.1"],
    ["http://127.1/", "127.0.0.1"],
    ["http://2852039166/", "169.254.169.254"],
    ["http://0251.0376.0251.0376/", "169.254.169.254"],
    ["http://0xa9.0xfe.0xa9.0xfe/", "169.254.169.254"],
    ["http://0xa9fea9fe/", "169.254.169.254"],
    ["http://[::1]:8080/", "::1"],
    ["http://[::ffff:127.0.0.1]/", "::ffff:7f00:1"],
    ["http://[::ffff:7f00:1]/", "::ffff:7f00:1"],
    ["http://[0:0:0:0:0:ffff:a9fe:a9fe]/", "::ffff:a9fe:a9fe"],
  ])("%s has the literal address %s, which is refused", (url, address) => {
    const parsed = parseOutboundUrl(url);
    expect(parsed.ok && parsed.target.literalAddress).toBe(address);
    expect(parsed.ok && parsed.target.serverName).toBeNull();
    expect(classifyAddress(address).public).toBe(false);
  });

  it("keeps a DNS name as the server name", () => {
    const parsed = parseOutboundUrl("https://Callbacks.Example.com:8443/hook?x=1");
    expect(parsed.ok && parsed.target).toMatchObject({
      hostname: "callbacks.example.com",
      literalAddress: null,
      serverName: "callbacks.example.com",
    });
  });

  it.each([
    ["ftp://example.com/", "uses scheme ftp:, only http and https are allowed"],
    ["file:///etc/passwd", "uses scheme file:, only http and https are allowed"],
    ["gopher://127.0.0.1:6379/_INFO", "uses scheme gopher:, only http and https are allowed"],
    ["data:text/plain,hello", "uses scheme data:, only http and https are allowed"],
    ["not a url", "is not a valid URL"],
    ["http://user:secret@example.com/", "must not contain credentials"],
  ])("refuses %s", (url, reason) => {
    expect(parseOutboundUrl(url)).toEqual({ ok: false, reason });
  });
});
