import { hash, randomBytes } from "node:crypto";
import type { KeyMode } from "./account.ts";

const KEY_PATTERN = /^ig_(live|test)_[A-Za-z0-9_-]{32}$/;

/** A new secret key: `ig_live_` or `ig_test_` followed by 32 base64url characters (192 bits). */
export function generateApiKey(mode: KeyMode, random: (size: number) => Buffer = randomBytes): string {
  return `ig_${mode}_${random(24).toString("base64url")}`;
}

/** SHA-256 in hex, with the one-shot hash(): runs on every authenticated request. */
export function hashApiKey(key: string): string {
  return hash("sha256", key, "hex");
}

export function looksLikeApiKey(value: string): boolean {
  return KEY_PATTERN.test(value);
}

export function keyHint(key: string): string {
  return `${key.slice(0, 12)}…`;
}
