import { describe, expect, it } from "vitest";
import type { KeyUse } from "../../src/domain/accounts/account.ts";
import { KEY_USE_RESOLUTION_MS, KeyUsage } from "../../src/domain/accounts/key-usage.ts";

/** A KeyUsage on a clock the test moves, writing to a list of batches, or failing while `failing`. */
function recorded() {
  let now = 1_000_000;
  const batches: KeyUse[][] = [];
  const state = { failing: false };
  const usage = new KeyUsage(
    {
      recordKeyUse: async (uses) => {
        if (state.failing) throw new Error("database down");
        batches.push([...uses]);
      },
    },
    { now: () => now },
  );
  return { usage, batches, state, advance: (ms: number) => (now += ms), now: () => now };
}

describe("KeyUsage", () => {
  it("notes each key at most once a minute, and writes nothing until flushed", async () => {
    const { usage, batches, advance } = recorded();
    usage.seen("key_a");
    advance(KEY_USE_RESOLUTION_MS - 1);
    usage.seen("key_a");
    usage.seen("key_b");
    expect(batches).toEqual([]);
    await usage.flush();
    expect(batches).toEqual([
      [
        { keyId: "key_a", at: 1_000_000 },
        { keyId: "key_b", at: 1_000_000 + KEY_USE_RESOLUTION_MS - 1 },
      ],
    ]);
    // Within the minute of its last note a key is not news; after it, it is.
    usage.seen("key_a");
    await usage.flush();
    expect(batches).toHaveLength(1);
    advance(1);
    usage.seen("key_a");
    await usage.flush();
    expect(batches[1]).toEqual([{ keyId: "key_a", at: 1_000_000 + KEY_USE_RESOLUTION_MS }]);
  });

  it("keeps a failed batch for the next flush, one latest use per key", async () => {
    const { usage, batches, state, advance, now } = recorded();
    usage.seen("key_a");
    state.failing = true;
    await expect(usage.flush()).rejects.toThrow("database down");
    advance(KEY_USE_RESOLUTION_MS);
    usage.seen("key_a");
    usage.seen("key_b");
    state.failing = false;
    await usage.flush();
    expect(batches).toEqual([
      [
        { keyId: "key_a", at: now() },
        { keyId: "key_b", at: now() },
      ],
    ]);
  });
});
