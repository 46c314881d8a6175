import { describe, expect, it } from "vitest";
import { timingFor } from "../src/args.js";
import { MemoryPool } from "../src/pool.js";
import { Trials } from "../src/trials.js";

describe("memory backend smoke", () => {
  it("measures one crash and one graceful failover with three in-process candidates", async () => {
    const timing = timingFor(400);
    const pool = new MemoryPool("bench-smoke", timing);
    const trials = new Trials(pool, "smoke", timing);
    try {
      const crash = await trials.run("crash", 1, () => {});
      const graceful = await trials.run("graceful", 1, () => {});
      expect(crash.failures).toBe(0);
      expect(graceful.failures).toBe(0);
      // A crash waits out the lease (minus the time since the last renewal); a release does not.
      expect(crash.samplesMs[0]).toBeGreaterThan(400 - timing.retryPeriodMs - 20);
      expect(crash.samplesMs[0]).toBeLessThan(400 + 250);
      expect(graceful.samplesMs[0]).toBeLessThan(100);
      expect(pool.alive()).toHaveLength(3);
    } finally {
      await pool.close();
    }
  });

  it("measures handovers: the chosen successor wins each, from the handOver() call", async () => {
    const timing = timingFor(400);
    const pool = new MemoryPool("bench-smoke-handover", timing);
    const trials = new Trials(pool, "smoke-handover", timing);
    try {
      const handover = await trials.run("handover", 3, () => {});
      expect(handover.failures).toBe(0);
      expect(handover.successorWins).toBe(3);
      expect(handover.overlaps).toBe(0);
      // Two compare-and-swaps and a watch delivery, never a lease.
      for (const sample of handover.samplesMs) expect(sample).toBeLessThan(100);
      expect(pool.alive()).toHaveLength(3);
    } finally {
      await pool.close();
    }
  });
});
