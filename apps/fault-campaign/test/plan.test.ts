/** The campaign's plan from its seed: the same faults, whatever the faults before them drew. */
import { describe, expect, it } from "vitest";
import { type FaultKind, faultPlan } from "../src/faults.ts";
import { Random } from "../src/random.ts";

const kinds: readonly FaultKind[] = ["kill", "term", "pause", "partition", "store-pause"];

/** The first `count` faults of a plan, each drawing `drawsOf(index)` numbers as a fault would. */
function run(seed: number, count: number, drawsOf: (index: number) => number) {
  const plan = faultPlan(seed, kinds);
  return Array.from({ length: count }, (_, index) => {
    const { kind, random } = plan.next().value;
    const draws = Array.from({ length: drawsOf(index) }, () => random.next());
    return { kind, first: draws[0] };
  });
}

describe("faultPlan", () => {
  it("gives the same kinds and draws however many numbers earlier faults drew", () => {
    // A fault's draws depend on the fleet when it runs (who leads, who is up): 2 in one run, 2 or 5
    // in another. Every later fault must still see the same kind and the same numbers.
    const steady = run(1001, 40, () => 2);
    const varying = run(1001, 40, (index) => (index % 3 === 0 ? 5 : 2));
    expect(varying).toEqual(steady);
  });

  it("runs rounds of every kind, each in a seeded order", () => {
    const planned = run(1002, 3 * kinds.length, () => 1).map((fault) => fault.kind);
    for (let round = 0; round < 3; round++) {
      expect([...planned.slice(round * kinds.length, (round + 1) * kinds.length)].sort()).toEqual(
        [...kinds].sort(),
      );
    }
    expect(run(1003, 3 * kinds.length, () => 1).map((fault) => fault.kind)).not.toEqual(planned);
  });

  it("refuses a plan without a fault kind", () => {
    expect(() => faultPlan(1, []).next()).toThrow(/no fault kind enabled/);
  });
});

describe("Random.stream", () => {
  it("is fixed by seed and stream, and differs between them", () => {
    const first = (random: Random) => [random.next(), random.next()];
    expect(first(Random.stream(1001, 7))).toEqual(first(Random.stream(1001, 7)));
    expect(first(Random.stream(1001, 8))).not.toEqual(first(Random.stream(1001, 7)));
    expect(first(Random.stream(1002, 7))).not.toEqual(first(Random.stream(1001, 7)));
  });
});
