/** Percentiles and summaries of failover samples (milliseconds). Pure. */
import type { TrialPhases } from "./trials.js";
import type { FailoverPhases, PhaseSummary } from "./types.js";

/**
 * The p-th percentile by the nearest-rank method: the smallest sample such that at least p% of the
 * samples are at or below it. With 10 samples p99 is the maximum, which is the honest answer.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? Number.NaN;
}

export interface Summary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly minMs: number;
  readonly meanMs: number;
}

/** p50 / p99 / max / min / mean of the samples, rounded to 0.1 ms (NaN when there are none). */
export function summarize(samples: readonly number[]): Summary {
  const round = (value: number): number => Math.round(value * 10) / 10;
  const mean =
    samples.length === 0 ? Number.NaN : samples.reduce((sum, value) => sum + value, 0) / samples.length;
  return {
    count: samples.length,
    p50Ms: round(percentile(samples, 50)),
    p99Ms: round(percentile(samples, 99)),
    maxMs: round(samples.length === 0 ? Number.NaN : Math.max(...samples)),
    minMs: round(samples.length === 0 ? Number.NaN : Math.min(...samples)),
    meanMs: round(mean),
  };
}

/** Nanoseconds (CLOCK_MONOTONIC, as bigint) between two readings, in milliseconds. */
export function nsToMs(fromNs: bigint, toNs: bigint): number {
  return Number(toNs - fromNs) / 1e6;
}

/** p50 and p99 of each phase over the trials that reported phases; null when none did. */
export function phaseSummary(trials: readonly TrialPhases[]): FailoverPhases | null {
  if (trials.length === 0) return null;
  const phase = (pick: (trial: TrialPhases) => number): PhaseSummary => {
    const samplesMs = trials.map((trial) => Math.round(pick(trial) * 10) / 10);
    const { p50Ms, p99Ms } = summarize(samplesMs);
    return { p50Ms, p99Ms, samplesMs };
  };
  return {
    detection: phase((trial) => trial.detectionMs),
    compareAndSwap: phase((trial) => trial.compareAndSwapMs),
    notification: phase((trial) => trial.notificationMs),
  };
}
