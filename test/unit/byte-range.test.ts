import { describe, expect, it } from "vitest";
import { rangeStillApplies, requestedRange } from "../../src/api/byte-range.ts";

describe("requestedRange", () => {
  it.each([
    ["bytes=0-99", { start: 0, end: 99 }],
    ["bytes=100-", { start: 100, end: 999 }],
    ["bytes=-100", { start: 900, end: 999 }],
    ["bytes=-5000", { start: 0, end: 999 }],
    ["bytes=990-5000", { start: 990, end: 999 }],
    ["bytes=999-999", { start: 999, end: 999 }],
    [" bytes=0-0 ", { start: 0, end: 0 }],
  ])("takes up %j of a 1,000-byte file", (header, range) => {
    expect(requestedRange(header, 1000)).toEqual(range);
  });

  it.each([["bytes=1000-"], ["bytes=5000-6000"], ["bytes=-0"]])("finds %j unsatisfiable for 1,000 bytes", (header) => {
    expect(requestedRange(header, 1000)).toBe("unsatisfiable");
  });

  it("finds every range of an empty file unsatisfiable", () => {
    expect(requestedRange("bytes=0-", 0)).toBe("unsatisfiable");
    expect(requestedRange("bytes=-10", 0)).toBe("unsatisfiable");
  });

  it.each([[undefined], [""], ["bytes=-"], ["bytes=5-2"], ["bytes=0-9,20-29"], ["items=0-9"], ["bytes=a-b"], ["bytes 0-9"]])(
    "sends the whole file for %j",
    (header) => {
      expect(requestedRange(header, 1000)).toBeNull();
    },
  );
});

describe("rangeStillApplies", () => {
  const etag = '"abc"';
  const lastModified = "Fri, 27 Nov 2026 21:29:51 GMT";

  it("holds without If-Range, or when it names the current tag or date", () => {
    expect(rangeStillApplies(undefined, etag, lastModified)).toBe(true);
    expect(rangeStillApplies('"abc"', etag, lastModified)).toBe(true);
    expect(rangeStillApplies(lastModified, etag, lastModified)).toBe(true);
  });

  it("fails for another tag, a weak tag or another date", () => {
    expect(rangeStillApplies('"old"', etag, lastModified)).toBe(false);
    expect(rangeStillApplies('W/"abc"', etag, lastModified)).toBe(false);
    expect(rangeStillApplies("Thu, 26 Nov 2026 21:29:51 GMT", etag, lastModified)).toBe(false);
    expect(rangeStillApplies(['"abc"', '"abc"'], etag, lastModified)).toBe(false);
  });
});
