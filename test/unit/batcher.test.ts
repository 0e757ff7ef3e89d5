import { describe, expect, it } from "vitest";
import { Batcher, type ItemOutcome } from "../../src/concurrency/batcher.ts";

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** A batcher whose batches the test ends by hand, recording the items of each. */
function heldBatches(options = { concurrency: 1, maxItems: 100 }) {
  const batches: number[][] = [];
  const finishers: Array<(outcomes: ItemOutcome<string>[] | Error) => void> = [];
  const batcher = new Batcher<number, string>(
    (items) =>
      new Promise((resolve, reject) => {
        batches.push(items);
        finishers.push((outcomes) => (outcomes instanceof Error ? reject(outcomes) : resolve(outcomes)));
      }),
    options,
  );
  const answerEach = (items: readonly number[]): ItemOutcome<string>[] =>
    items.map((item) => (item < 0 ? { ok: false, error: new Error(`bad ${item}`) } : { ok: true, value: `done ${item}` }));
  return {
    batcher,
    batches,
    finishNext: async (outcomes?: ItemOutcome<string>[] | Error) => {
      const items = batches[batches.length - finishers.length] ?? [];
      finishers.shift()?.(outcomes ?? answerEach(items));
      await nextTurn();
    },
  };
}

describe("Batcher", () => {
  it("runs the calls of one turn as one batch at the end of the turn, answering each its own outcome", async () => {
    const held = heldBatches();
    const answers = [1, 2, 3].map((item) => held.batcher.submit(item));
    expect(held.batches).toEqual([]);
    await nextTurn();
    expect(held.batches).toEqual([[1, 2, 3]]);
    await held.finishNext();
    expect(await Promise.all(answers)).toEqual(["done 1", "done 2", "done 3"]);
  });

  it("gathers the calls made while a batch runs into the next, which leaves as soon as it ends", async () => {
    const held = heldBatches();
    const first = held.batcher.submit(1);
    await nextTurn();
    const later = [2, 3].map((item) => held.batcher.submit(item));
    await nextTurn();
    expect(held.batches).toEqual([[1]]);
    let laterAnswered = false;
    void Promise.all(later).then(() => (laterAnswered = true));
    await held.finishNext();
    expect(await first).toBe("done 1");
    expect(held.batches).toEqual([[1], [2, 3]]);
    expect(laterAnswered).toBe(false);
    await held.finishNext();
    expect(await Promise.all(later)).toEqual(["done 2", "done 3"]);
  });

  it("runs up to `concurrency` batches at once, each of at most `maxItems`", async () => {
    const held = heldBatches({ concurrency: 2, maxItems: 2 });
    const answers = [1, 2, 3, 4, 5].map((item) => held.batcher.submit(item));
    await nextTurn();
    expect(held.batches).toEqual([
      [1, 2],
      [3, 4],
    ]);
    await held.finishNext();
    expect(held.batches).toEqual([[1, 2], [3, 4], [5]]);
    await held.finishNext();
    await held.finishNext();
    expect(await Promise.all(answers)).toEqual(["done 1", "done 2", "done 3", "done 4", "done 5"]);
  });

  it("fails an item's caller alone, and every caller of a batch that fails", async () => {
    const held = heldBatches();
    const answers = Promise.allSettled([1, -2, 3].map((item) => held.batcher.submit(item)));
    await nextTurn();
    await held.finishNext();
    expect(await answers).toEqual([
      { status: "fulfilled", value: "done 1" },
      { status: "rejected", reason: new Error("bad -2") },
      { status: "fulfilled", value: "done 3" },
    ]);
    const failed = Promise.allSettled([4, 5].map((item) => held.batcher.submit(item)));
    await nextTurn();
    await held.finishNext(new Error("connection lost"));
    expect((await failed).map((answer) => (answer.status === "rejected" ? (answer.reason as Error).message : answer.value))).toEqual([
      "connection lost",
      "connection lost",
    ]);
    // The next call is batched as usual.
    const next = held.batcher.submit(6);
    await nextTurn();
    await held.finishNext();
    expect(await next).toBe("done 6");
  });
});
