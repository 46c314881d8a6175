/** Store load: the servers' own counts with the leader alone, then with two followers. */
import type { CandidatePool } from "./pool.js";
import type { StatsSource, StatsWindow } from "./server-stats.js";
import type { BackendName, Implementation, LoadResult, Timing } from "./types.js";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface LoadInputs {
  readonly backend: BackendName;
  readonly implementation: Implementation;
  readonly stats: StatsSource;
  readonly timing: Timing;
  /** A fresh pool on its own election. */
  readonly pool: CandidatePool;
  readonly prefix: string;
  /** Length of each counting window. */
  readonly windowMs: number;
  /** Whether candidates report renewals (Tenure does; client-go does not: estimated from the retry period). */
  readonly reportsRenewals: boolean;
  readonly onPhase: (label: string) => void;
}

function perUnit(counts: Readonly<Record<string, number>>, divisor: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(counts)) out[key] = Math.round((value / divisor) * 100) / 100;
  return out;
}

function sumKind(
  counts: Readonly<Record<string, number>>,
  stats: StatsSource,
  kind: "read" | "write",
): number {
  return Object.entries(counts).reduce(
    (sum, [key, value]) => (stats.classify(key) === kind ? sum + value : sum),
    0,
  );
}

export async function measureLoad(inputs: LoadInputs): Promise<LoadResult> {
  const { pool, stats, timing } = inputs;
  const notes: string[] = [];
  const leaderId = `${inputs.prefix}-leader`;
  inputs.onPhase("leader alone");
  await pool.spawn(leaderId);
  const led = await pool.waitFor(
    (event) => event.identity === leaderId && event.event === "started-leading",
    -1,
    3 * timing.leaseDurationMs + 10_000,
  );
  if (led === undefined) throw new Error("the lone candidate did not become leader");
  await sleep(2 * timing.retryPeriodMs);
  const alone: StatsWindow = await stats.window(inputs.windowMs);
  const countRenewals = (window: StatsWindow): number =>
    pool.log.filter(
      (event) =>
        event.identity === leaderId &&
        event.event === "renewed" &&
        event.ns >= window.startNs &&
        event.ns < window.endNs,
    ).length;
  const aloneSeconds = Number(alone.endNs - alone.startNs) / 1e9;
  let renewals = countRenewals(alone);
  if (!inputs.reportsRenewals) {
    renewals = Math.round((aloneSeconds * 1000) / timing.retryPeriodMs);
    notes.push("client-go does not report renewals: counted as window / retry period");
  }
  inputs.onPhase("leader + 2 followers");
  await pool.spawn(`${inputs.prefix}-follower-1`);
  await pool.spawn(`${inputs.prefix}-follower-2`);
  // Followers settle: their start-up reads and watch set-up are not steady-state load.
  await sleep(Math.max(1000, 3 * timing.retryPeriodMs));
  const crowd = await stats.window(inputs.windowMs);
  const crowdSeconds = Number(crowd.endNs - crowd.startNs) / 1e9;
  // The leader's share of the second window: its own operations per renewal times the renewals it
  // made there (Tenure reports them), or else its rate from the first window times the duration.
  const crowdRenewals = countRenewals(crowd);
  const leaderScale =
    inputs.reportsRenewals && renewals > 0 ? crowdRenewals / renewals : crowdSeconds / aloneSeconds;
  const followerOps: Record<string, number> = {};
  for (const key of new Set([...Object.keys(crowd.counts), ...Object.keys(alone.counts)])) {
    const extra = (crowd.counts[key] ?? 0) - (alone.counts[key] ?? 0) * leaderScale;
    followerOps[key] = Math.round((Math.max(0, extra) / 2 / crowdSeconds) * 100) / 100;
  }
  const leaderOps = perUnit(alone.counts, Math.max(1, renewals));
  return {
    backend: inputs.backend,
    implementation: inputs.implementation,
    source: stats.source,
    leaseMs: timing.leaseDurationMs,
    retryPeriodMs: timing.retryPeriodMs,
    renewals,
    leaderOpsPerRenewal: leaderOps,
    leaderWritesPerRenewal:
      Math.round((sumKind(alone.counts, stats, "write") / Math.max(1, renewals)) * 100) / 100,
    leaderReadsPerRenewal:
      Math.round((sumKind(alone.counts, stats, "read") / Math.max(1, renewals)) * 100) / 100,
    followerOpsPerSecond: followerOps,
    followerReadsPerSecond: Math.round(sumKind(followerOps, stats, "read") * 100) / 100,
    followerWritesPerSecond: Math.round(sumKind(followerOps, stats, "write") * 100) / 100,
    notes,
  };
}
