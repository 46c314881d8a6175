import { describe, expect, it } from "vitest";
import { parseOptions, timingFor } from "../src/args.js";

describe("parseOptions", () => {
  it("has a bounded default run over every backend", () => {
    const options = parseOptions([]);
    expect(options.backends).toEqual(["kubernetes", "etcd", "consul", "redis", "memory"]);
    expect(options.trials).toBe(10);
    expect(options.leaseMs).toBe(2000);
    expect(options.scaleElections).toBe(1000);
    expect(options.docsDir).toBe("docs/benchmarks");
  });

  it("takes a backend list, trials, lease and flags", () => {
    const options = parseOptions([
      "--backends",
      "redis, memory",
      "--trials",
      "3",
      "--lease-ms",
      "3000",
      "--scale-10k",
      "--soak",
      "--no-docs",
    ]);
    expect(options.backends).toEqual(["redis", "memory"]);
    expect(options.trials).toBe(3);
    expect(options.leaseMs).toBe(3000);
    expect(options.scaleElections).toBe(10_000);
    expect(options.scaleSeconds).toBe(300);
    expect(options.docsDir).toBeNull();
  });

  it("runs every failover scenario by default, or only those listed", () => {
    expect(parseOptions([]).scenarios).toEqual(["crash", "graceful", "store-outage", "handover"]);
    expect(parseOptions(["--scenarios", "handover, graceful"]).scenarios).toEqual(["graceful", "handover"]);
    expect(() => parseOptions(["--scenarios", "graceful,teleport"])).toThrow(/--scenarios must list/);
    expect(() => parseOptions(["--scenarios", ","])).toThrow(/--scenarios must list/);
  });

  it("refuses unknown backends and bad numbers", () => {
    expect(() => parseOptions(["--backends", "zookeeper"])).toThrow(/unknown backend zookeeper/);
    expect(() => parseOptions(["--trials", "0"])).toThrow(/positive integer/);
    expect(() => parseOptions(["--frobnicate"])).toThrow();
  });
});

describe("timingFor", () => {
  it("derives renew deadline 0.7 L and retry 0.15 L", () => {
    expect(timingFor(2000)).toEqual({ leaseDurationMs: 2000, renewDeadlineMs: 1400, retryPeriodMs: 300 });
  });
});
