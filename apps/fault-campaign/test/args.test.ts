/** The chaos command line: how long a campaign runs, and clear refusals of bad input. */
import { describe, expect, it } from "vitest";
import { parseArguments, UsageError } from "../src/args.ts";

function parsed(argv: readonly string[]) {
  const args = parseArguments(argv);
  if (args === "help") throw new Error("unexpected help");
  return args;
}

describe("parseArguments", () => {
  it("runs 60 s by default, with no fault limit", () => {
    const args = parsed(["--backend", "redis"]);
    expect(args.durationMs).toBe(60_000);
    expect(args.faultCount).toBe(Number.POSITIVE_INFINITY);
  });

  it("runs until the fault count when only --fault-count is given", () => {
    const args = parsed(["--backend", "etcd", "--fault-count", "1050"]);
    expect(args.faultCount).toBe(1050);
    expect(args.durationMs).toBe(Number.POSITIVE_INFINITY);
  });

  it("stops at whichever comes first when both are given", () => {
    const args = parsed(["--backend", "consul", "--fault-count", "10", "--duration=30"]);
    expect(args).toMatchObject({ faultCount: 10, durationMs: 30_000 });
  });

  it("names the option and the rule on bad input", () => {
    expect(() => parsed(["--backend", "redis", "--fault-count", "0"])).toThrow(
      new UsageError('--fault-count must be a positive integer, got "0"'),
    );
    expect(() => parsed(["--backend", "mongo"])).toThrow(/--backend must be one of/);
    expect(() => parsed(["--backend", "redis", "--faults", "kill,nap"])).toThrow(/unknown fault kinds: nap/);
  });
});
