import { describe, expect, it } from "vitest";
import { CoalescedFlush } from "../../src/threads/coalesced-flush.ts";

/** A flush the test finishes by hand, recording when each one started. */
function heldFlushes() {
  const started: number[] = [];
  const finishers: Array<(error?: Error) => void> = [];
  let clock = 0;
  const flush = new CoalescedFlush(
    () =>
      new Promise<void>((resolve, reject) => {
        started.push(clock);
        finishers.push((error) => (error === undefined ? resolve() : reject(error)));
      }),
  );
  return {
    flush,
    started,
    tick: () => (clock += 1),
    finishNext: async (error?: Error) => {
      finishers.shift()?.(error);
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

describe("CoalescedFlush", () => {
  it("starts at once when idle", async () => {
    const held = heldFlushes();
    const done = held.flush.run();
    expect(held.started).toEqual([0]);
    await held.finishNext();
    await done;
    expect(held.flush.busy).toBe(false);
  });

  it("gives callers arriving during a flush one shared flush that starts after it", async () => {
    const held = heldFlushes();
    const first = held.flush.run();
    held.tick();
    const later = Array.from({ length: 9 }, () => held.flush.run());
    expect(held.started).toEqual([0]);
    let laterDone = false;
    void Promise.all(later).then(() => (laterDone = true));
    await held.finishNext();
    await first;
    // The running flush may have begun before their writes: it does not answer them.
    expect(laterDone).toBe(false);
    expect(held.started).toEqual([0, 1]);
    await held.finishNext();
    await Promise.all(later);
    expect(held.started).toHaveLength(2);
  });

  it("rejects the callers of a failed flush and flushes again for the next ones", async () => {
    const held = heldFlushes();
    const failed = held.flush.run();
    await held.finishNext(new Error("EIO"));
    await expect(failed).rejects.toThrow("EIO");
    const next = held.flush.run();
    await held.finishNext();
    await expect(next).resolves.toBeUndefined();
  });

  it("is idle only once the running and the waiting flush are both done", async () => {
    const held = heldFlushes();
    void held.flush.run();
    void held.flush.run();
    let idle = false;
    void held.flush.idle().then(() => (idle = true));
    await held.finishNext();
    expect(idle).toBe(false);
    await held.finishNext();
    await new Promise((resolve) => setImmediate(resolve));
    expect(idle).toBe(true);
  });
});
