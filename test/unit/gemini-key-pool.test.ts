import { describe, expect, it } from "vitest";
import { KeyPool, REJECTED_KEY_PROBE_INTERVAL_MS } from "../../src/providers/gemini/key-pool.ts";

function pool(keys: string[]) {
  const time = { now: 1_000_000 };
  return { time, keyPool: new KeyPool(keys, { now: () => time.now }) };
}

describe("KeyPool", () => {
  it("rotates over the keys in order", () => {
    const { keyPool } = pool(["a", "b", "c"]);

    expect([1, 2, 3, 4].map(() => keyPool.next().key)).toEqual(["a", "b", "c", "a"]);
  });

  it("skips a resting key until its rest is over", () => {
    const { time, keyPool } = pool(["a", "b"]);
    keyPool.rest(0, 30_000);

    expect([keyPool.next().key, keyPool.next().key]).toEqual(["b", "b"]);
    time.now += 30_000;
    expect([keyPool.next().key, keyPool.next().key]).toEqual(["a", "b"]);
  });

  it("hands out the key that wakes first, with the wait, when every key rests", () => {
    const { keyPool } = pool(["a", "b"]);
    keyPool.rest(0, 30_000);
    keyPool.rest(1, 10_000);

    expect(keyPool.next()).toEqual({ key: "b", index: 1, waitMs: 10_000 });
    expect(keyPool.msUntilAvailable()).toBe(10_000);
  });

  it("never shortens a rest already asked for", () => {
    const { keyPool } = pool(["a"]);
    keyPool.rest(0, 30_000);
    keyPool.rest(0, 1_000);

    expect(keyPool.msUntilAvailable()).toBe(30_000);
  });

  it("leaves a rejected key out while another works, and probes it again after a minute", () => {
    const { time, keyPool } = pool(["a", "b"]);
    keyPool.markRejected(0);

    expect([keyPool.next().key, keyPool.next().key]).toEqual(["b", "b"]);
    expect(keyPool.hasAcceptedKey()).toBe(true);
    time.now += REJECTED_KEY_PROBE_INTERVAL_MS;
    expect([keyPool.next().key, keyPool.next().key]).toEqual(["a", "b"]);
  });

  it("still hands out a key when every key was rejected, so the failure is fast", () => {
    const { keyPool } = pool(["a", "b"]);
    keyPool.markRejected(0);
    keyPool.markRejected(1);

    expect(keyPool.next().waitMs).toBe(0);
    expect(keyPool.hasAcceptedKey()).toBe(false);
    expect(keyPool.rejectedIndexes()).toEqual([0, 1]);
    keyPool.markAccepted(1);
    expect(keyPool.hasAcceptedKey()).toBe(true);
  });

  it("drops blank and repeated keys and refuses an empty pool", () => {
    expect(pool([" a ", "a", "", "b"]).keyPool.size).toBe(2);
    expect(() => pool(["", " "])).toThrow(RangeError);
  });
});
