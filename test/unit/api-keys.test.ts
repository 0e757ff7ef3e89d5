import { describe, expect, it } from "vitest";
import { digestApiKey, generateApiKey, hashApiKey, looksLikeApiKey, sameDigest } from "../../src/domain/accounts/api-keys.ts";

describe("API key digests", () => {
  it("stores the hex of the same SHA-256 that authentication computes", () => {
    const key = generateApiKey("live");
    expect(looksLikeApiKey(key)).toBe(true);
    expect(hashApiKey(key)).toMatch(/^[0-9a-f]{64}$/);
    expect(digestApiKey(key).toString("hex")).toBe(hashApiKey(key));
  });

  it("compares a stored digest with a computed one", () => {
    const key = generateApiKey("test");
    const stored = hashApiKey(key);
    expect(sameDigest(stored, digestApiKey(key))).toBe(true);
    expect(sameDigest(stored, digestApiKey(generateApiKey("test")))).toBe(false);
    expect(sameDigest(stored.slice(0, 62), digestApiKey(key))).toBe(false);
    expect(sameDigest("", digestApiKey(key))).toBe(false);
  });
});
