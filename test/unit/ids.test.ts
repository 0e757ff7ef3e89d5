import { describe, expect, it } from "vitest";
import { idTimeBound, newId } from "../../src/domain/ids.ts";

describe("newId", () => {
  it("is a prefix, 10 characters of time and 16 of randomness", () => {
    expect(newId("task", Date.UTC(2026, 10, 27))).toMatch(/^task_[0-9a-hjkmnp-tv-z]{26}$/);
  });

  it("sorts by creation time, as the tasks listing relies on", () => {
    const times = [0, 1, 31, 32, 1_000, Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 1) + 1, Date.UTC(2099, 0, 1)];
    const ids = times.map((time) => newId("task", time));
    expect([...ids].sort()).toEqual(ids);
  });
});

describe("idTimeBound", () => {
  it("splits ids made before a time from ids made at it or after", () => {
    const at = Date.UTC(2026, 10, 27, 8, 30);
    const bound = idTimeBound("task", at);
    for (let index = 0; index < 50; index += 1) {
      expect(newId("task", at) >= bound).toBe(true);
      expect(newId("task", at + 1) >= bound).toBe(true);
      expect(newId("task", at - 1) < bound).toBe(true);
    }
  });

  it("rounds a fractional time up, so nothing made before it is included", () => {
    expect(idTimeBound("task", 1_000.5)).toBe(idTimeBound("task", 1_001));
  });
});
