import { randomFillSync } from "node:crypto";

const CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz";

export type RandomSource = (size: number) => Buffer;

const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let poolOffset = POOL_SIZE;

/**
 * Cryptographically random bytes drawn from a pool refilled 4 KiB at a time: one system call per
 * few hundred ids instead of one per id, on the createTask path.
 */
export function pooledRandomBytes(size: number): Buffer {
  if (size > POOL_SIZE) return randomFillSync(Buffer.alloc(size));
  if (poolOffset + size > POOL_SIZE) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_SIZE));
    poolOffset = 0;
  }
  const bytes = Buffer.from(pool.subarray(poolOffset, poolOffset + size));
  poolOffset += size;
  return bytes;
}

/**
 * A prefixed, time-sortable identifier: 10 base32 characters of epoch milliseconds followed by
 * 16 base32 characters (80 bits) of randomness, the layout of a ULID, lower-cased.
 */
export function newId(prefix: string, now: number, random: RandomSource = pooledRandomBytes): string {
  const time = encodeTime(now);
  const bytes = random(10);
  let suffix = "";
  // 80 bits -> 16 characters of 5 bits each.
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      suffix += CROCKFORD.charAt((buffer >> bits) & 31);
    }
    buffer &= (1 << bits) - 1;
  }
  return `${prefix}_${time}${suffix}`;
}

/** 10 base32 characters of epoch milliseconds, which sort as the times do. */
function encodeTime(epochMs: number): string {
  let time = "";
  let remaining = Math.floor(epochMs);
  for (let index = 0; index < 10; index += 1) {
    time = CROCKFORD.charAt(remaining % 32) + time;
    remaining = Math.floor(remaining / 32);
  }
  return time;
}

/**
 * The smallest id newId can make at `epochMs` or later: ids made before that time sort below it,
 * so `id >= idTimeBound(prefix, t)` selects what was created at t or after.
 */
export function idTimeBound(prefix: string, epochMs: number): string {
  return `${prefix}_${encodeTime(Math.max(0, Math.ceil(epochMs)))}`;
}
