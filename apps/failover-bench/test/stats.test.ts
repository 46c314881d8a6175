import { describe, expect, it } from "vitest";
import { nsToMs, percentile, summarize } from "../src/stats.js";

describe("percentile (nearest rank)", () => {
  it("picks the smallest sample with at least p% at or below it", () => {
    const samples = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(percentile(samples, 50)).toBe(5);
    expect(percentile(samples, 90)).toBe(9);
    expect(percentile(samples, 99)).toBe(10);
    expect(percentile(samples, 0)).toBe(1);
    expect(percentile(samples, 100)).toBe(10);
  });

  it("is NaN without samples and refuses p outside 0..100", () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it("of 1,000 samples, p99 is the 990th", () => {
    const samples = Array.from({ length: 1000 }, (_, index) => 1000 - index);
    expect(percentile(samples, 99)).toBe(990);
  });
});

describe("summarize", () => {
  it("rounds to 0.1 ms", () => {
    expect(summarize([1.04, 2.06, 3])).toEqual({
      count: 3,
      p50Ms: 2.1,
      p99Ms: 3,
      maxMs: 3,
      minMs: 1,
      meanMs: 2,
    });
  });

  it("reports NaN for no samples", () => {
    const summary = summarize([]);
    expect(summary.count).toBe(0);
    expect(summary.p99Ms).toBeNaN();
  });

  it("converts monotonic nanoseconds to milliseconds", () => {
    expect(nsToMs(1_000_000n, 3_500_000n)).toBe(2.5);
  });
});
