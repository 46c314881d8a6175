/**
 * Property-based tests of the election engine over the memory store, on virtual time: random
 * interleavings of candidates with crashes, releases, stalls longer than the lease, network cuts,
 * message delays and clock-rate differences inside the tolerated margin.
 *
 * Reproduce a failure with the seed and path fast-check prints:
 *   TENURE_PROPERTY_SEED=<seed> npx vitest run --project @tenure/memory election.property
 * Change the number of runs with TENURE_PROPERTY_RUNS.
 */
import type { ElectionTiming } from "@tenure/core";
import { clockDriftTolerance } from "@tenure/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Action, Scenario } from "./simulation.js";
import { runScenario } from "./simulation.js";

const SEED = Number(process.env.TENURE_PROPERTY_SEED ?? 20261125);
const RUNS = Number(process.env.TENURE_PROPERTY_RUNS ?? 500);

const timingArbitrary: fc.Arbitrary<ElectionTiming> = fc
  .record({
    leaseDurationMs: fc.integer({ min: 500, max: 3000 }),
    renewFraction: fc.double({ min: 0.4, max: 0.8, noNaN: true }),
    retryFraction: fc.double({ min: 0.1, max: 0.75, noNaN: true }),
  })
  .map(({ leaseDurationMs, renewFraction, retryFraction }) => {
    const renewDeadlineMs = Math.floor(leaseDurationMs * renewFraction);
    // retryPeriod < renewDeadline / 1.2, as validation demands.
    const retryPeriodMs = Math.max(10, Math.floor((renewDeadlineMs / 1.25) * retryFraction));
    return { leaseDurationMs, renewDeadlineMs, retryPeriodMs };
  });

function scenarioArbitrary(): fc.Arbitrary<Scenario> {
  return timingArbitrary.chain((timing) => {
    const lease = timing.leaseDurationMs;
    // Stay inside the margin the timings tolerate (docs/architecture.md), with a little room.
    const maxDrift = clockDriftTolerance(timing) * 0.9;
    const action: fc.Arbitrary<Action> = fc.record({
      atMs: fc.integer({ min: 0, max: 12 * lease }),
      kind: fc.constantFrom("crash", "release", "pause", "partition", "join", "delete", "resign"),
      target: fc.nat({ max: 7 }),
      // Pauses and cuts from a blip to three leases: many outlast the lease.
      durationMs: fc.integer({ min: 1, max: 3 * lease }),
      blackhole: fc.boolean(),
    });
    return fc.record({
      timing: fc.constant(timing),
      rates: fc.array(fc.double({ min: 1 - maxDrift, max: 1 + maxDrift, noNaN: true }), {
        minLength: 2,
        maxLength: 4,
      }),
      // Up to a quarter of an operation timeout each way, so a healthy round trip always fits.
      maxDelayMs: fc.integer({ min: 0, max: Math.floor(timing.renewDeadlineMs / 8) }),
      maxDrift: fc.constant(maxDrift),
      seed: fc.integer(),
      actions: fc
        .array(action, { maxLength: 14 })
        .map((actions) => [...actions].sort((a, b) => a.atMs - b.atMs)),
    });
  });
}

describe("election engine properties (memory store, virtual time)", () => {
  it(
    `never has two leaders at once, tokens strictly increase, and a leader returns after faults (${RUNS} seeded runs)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(scenarioArbitrary(), async (scenario) => {
          const outcome = await runScenario(scenario);
          const { leaseDurationMs, retryPeriodMs } = scenario.timing;

          // Safety: no overlapping safe-to-act intervals on the one timeline; tokens strictly increase.
          outcome.log.assertSafe();
          const tokens = outcome.log.intervals().map((interval) => interval.fencingToken);
          expect(outcome.finalToken).toBeGreaterThanOrEqual(Math.max(-1, ...tokens));

          // Liveness: once faults heal, someone leads; after the leader dies, a live candidate
          // leads within leaseDuration + retryPeriod (on the slowest clock) plus four message delays.
          expect(outcome.recoveryMs, "no leader after healing").not.toBeNull();
          expect(outcome.failoverMs, "no leader after the crash").not.toBeNull();
          const bound = (leaseDurationMs + retryPeriodMs) / outcome.minRate + 4 * scenario.maxDelayMs;
          expect(outcome.failoverMs ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(bound);
        }),
        { seed: SEED, numRuns: RUNS },
      );
    },
    10 * 60_000,
  );

  it("detects overlapping leaders when clocks drift beyond the tolerated margin (the checker can fail)", async () => {
    // A leader whose clock runs at half speed keeps acting for twice its renew deadline in real
    // time, long after a follower with a true clock has taken over: exactly what the bound forbids.
    const timing = { leaseDurationMs: 1000, renewDeadlineMs: 800, retryPeriodMs: 100 };
    const outcome = await runScenario({
      timing,
      rates: [0.5, 1],
      maxDelayMs: 0,
      maxDrift: 0,
      seed: 1,
      actions: [{ atMs: 2000, kind: "partition", target: 0, durationMs: 3000, blackhole: true }],
    });
    expect(outcome.log.overlaps().length).toBeGreaterThan(0);
    expect(() => outcome.log.assertSafe()).toThrow(/two leaders at once/);
  });
});
