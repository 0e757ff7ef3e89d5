import { hash, randomBytes, timingSafeEqual } from "node:crypto";
import type { KeyMode } from "./account.ts";

const KEY_PATTERN = /^ig_(live|test)_[A-Za-z0-9_-]{32}$/;

/** A new secret key: `ig_live_` or `ig_test_` followed by 32 base64url characters (192 bits). */
export function generateApiKey(mode: KeyMode, random: (size: number) => Buffer = randomBytes): string {
  return `ig_${mode}_${random(24).toString("base64url")}`;
}

/** SHA-256 in hex, with the one-shot hash(): how a key is stored and looked up. */
export function hashApiKey(key: string): string {
  return digestApiKey(key).toString("hex");
}

/** SHA-256 as bytes, for a lookup by its hex and the constant-time comparison after it. */
export function digestApiKey(key: string): Buffer {
  return hash("sha256", key, "buffer");
}

/** Constant-time comparison of a stored hex digest with a computed one. */
export function sameDigest(storedHex: string, digest: Buffer): boolean {
  const stored = Buffer.from(storedHex, "hex");
  return stored.length === digest.length && timingSafeEqual(stored, digest);
}

export function looksLikeApiKey(value: string): boolean {
  return KEY_PATTERN.test(value);
}

export function keyHint(key: string): string {
  return `${key.slice(0, 12)}…`;
}
