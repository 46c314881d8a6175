/** The Markdown tables of a run (results in, text out). */
import type {
  FailoverResult,
  LeaseSearchResult,
  LoadResult,
  ScaleResult,
  SkippedBackend,
  TargetResult,
} from "../types.js";
import { ms } from "./format.js";

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ].join("\n");
}

export function failoverTable(rows: readonly FailoverResult[]): string {
  return table(
    [
      "backend",
      "candidates",
      "scenario",
      "trials",
      "lease / renew / retry",
      "p50",
      "p99",
      "max",
      "failed",
      "chosen successor won",
    ],
    rows.map((row) => [
      row.backend,
      row.implementation === "client-go" ? "client-go" : row.processes ? "Tenure" : "Tenure (1 process)",
      row.scenario,
      String(row.trials),
      `${row.leaseMs} / ${row.renewDeadlineMs} / ${row.retryPeriodMs} ms`,
      ms(row.p50Ms),
      ms(row.p99Ms),
      ms(row.maxMs),
      String(row.failures),
      row.successorWins === undefined ? "" : `${row.successorWins} / ${row.trials}`,
    ]),
  );
}

export function ratioRows(rows: readonly FailoverResult[]): string[][] {
  const out: string[][] = [];
  const leases = [...new Set(rows.filter((row) => row.backend === "kubernetes").map((row) => row.leaseMs))];
  for (const leaseMs of leases)
    for (const scenario of ["crash", "graceful"] as const) {
      const find = (implementation: FailoverResult["implementation"]) =>
        rows.find(
          (row) =>
            row.backend === "kubernetes" &&
            row.implementation === implementation &&
            row.scenario === scenario &&
            row.leaseMs === leaseMs,
        );
      const tenure = find("tenure");
      const go = find("client-go");
      if (tenure === undefined || go === undefined) continue;
      out.push([
        `${scenario}, ${tenure.leaseMs / 1000} / ${tenure.renewDeadlineMs / 1000} / ${tenure.retryPeriodMs / 1000} s`,
        `${ms(tenure.p50Ms)} / ${ms(go.p50Ms)}`,
        (tenure.p50Ms / go.p50Ms).toFixed(2),
        `${ms(tenure.p99Ms)} / ${ms(go.p99Ms)}`,
        (tenure.p99Ms / go.p99Ms).toFixed(2),
      ]);
    }
  return out;
}

function formatOps(ops: Readonly<Record<string, number>>): string {
  const entries = Object.entries(ops).filter(([, value]) => Math.abs(value) >= 0.005);
  return entries.length === 0
    ? "none"
    : entries.map(([key, value]) => `${key} ${value.toFixed(2)}`).join(", ");
}

export function loadTable(rows: readonly LoadResult[]): string {
  return table(
    [
      "backend",
      "candidates",
      "leader: writes / reads per renewal",
      "leader: all ops per renewal",
      "follower: reads / writes per s",
      "follower: all ops per s",
      "source",
    ],
    rows.map((row) => [
      row.backend,
      row.implementation,
      `${row.leaderWritesPerRenewal.toFixed(2)} / ${row.leaderReadsPerRenewal.toFixed(2)}`,
      formatOps(row.leaderOpsPerRenewal),
      `${row.followerReadsPerSecond.toFixed(2)} / ${row.followerWritesPerSecond.toFixed(2)}`,
      formatOps(row.followerOpsPerSecond),
      row.source,
    ]),
  );
}

/** Where each failover's time went (Tenure rows that report phases). */
export function phasesTable(rows: readonly FailoverResult[]): string {
  const split = rows.filter((row) => row.phases !== null);
  const cell = (phase: { p50Ms: number; p99Ms: number }): string => `${ms(phase.p50Ms)} / ${ms(phase.p99Ms)}`;
  return table(
    [
      "backend",
      "scenario",
      "trials",
      "detection p50 / p99",
      "compare-and-swap p50 / p99",
      "notification p50 / p99",
      "total p50 / p99",
    ],
    split.map((row) => {
      const phases = row.phases as NonNullable<FailoverResult["phases"]>;
      return [
        row.backend,
        row.scenario,
        String(phases.detection.samplesMs.length),
        cell(phases.detection),
        cell(phases.compareAndSwap),
        cell(phases.notification),
        cell(row),
      ];
    }),
  );
}

export function scaleTable(rows: readonly ScaleResult[]): string {
  return table(
    [
      "backend",
      "elections",
      "lease / renew / retry",
      "CPU neighbour",
      "measured",
      "leading",
      "ramp",
      "renewals/s",
      "CPU (cores)",
      "RSS max",
      "V8 heap cap",
      "event-loop delay p99 / max",
      "store errors",
      "spurious losses",
      "store calls / election / retry",
      "server ops / election / retry",
    ],
    rows.map((row) => [
      row.backend,
      String(row.elections),
      `${row.leaseMs / 1000} / ${row.renewDeadlineMs / 1000} / ${row.retryPeriodMs / 1000} s`,
      row.cpuNeighbour ? "yes" : "no",
      `${Math.round(row.durationMs / 1000)} s`,
      `${row.leading}/${row.elections}`,
      `${(row.rampMs / 1000).toFixed(1)} s`,
      (row.renewals / (row.durationMs / 1000)).toFixed(0),
      row.cpuCoreShare.toFixed(2),
      `${row.rssMaxMb.toFixed(0)} MB`,
      heapCap(row),
      `${row.eventLoopDelayP99Ms.toFixed(1)} / ${row.eventLoopDelayMaxMs.toFixed(1)} ms`,
      String(row.storeErrors),
      String(row.spuriousLosses),
      row.storeCallsPerElectionPerRetry.toFixed(2),
      row.serverOps === null
        ? "—"
        : `${row.serverOps.perElectionPerRetry.toFixed(3)} (${row.serverOps.reads} reads, ${row.serverOps.writes} writes in ${Math.round(row.serverOps.windowMs / 1000)} s; ${row.serverOps.source})`,
    ]),
  );
}

export function leaseSearchTable(rows: readonly LeaseSearchResult[]): string {
  return table(
    ["backend", "elections", "soaks (lease: losses / store errors / leading)", "shortest stable lease"],
    rows.map((row) => [
      row.backend,
      String(row.elections),
      row.soaks
        .map(
          (soak) =>
            `${soak.leaseMs} ms: ${soak.spuriousLosses} / ${soak.storeErrors} / ${soak.leading}/${soak.elections} over ${Math.round(soak.durationMs / 1000)} s`,
        )
        .join("; "),
      row.shortestStableLeaseMs === null ? "none" : `${row.shortestStableLeaseMs} ms`,
    ]),
  );
}

export function targetsTable(rows: readonly TargetResult[]): string {
  return table(
    ["target", "backend", "result", "measured", "limit", "margin", "why"],
    rows.map((row) => [
      row.target,
      row.backend,
      row.verdict === "pass" ? "**pass**" : row.verdict === "fail" ? "**FAIL**" : "not evaluated",
      row.measured,
      row.limit,
      row.margin,
      row.why,
    ]),
  );
}

export function skippedList(rows: readonly SkippedBackend[]): string {
  return rows.length === 0
    ? "None."
    : rows.map((row) => `- **${row.backend}** (${row.what}): ${row.reason}`).join("\n");
}

/** The worker's `--max-old-space-size`, or V8's default (also for runs made before it was recorded). */
function heapCap(row: ScaleResult): string {
  const flag = (row.nodeOptions ?? []).find((option) => option.startsWith("--max-old-space-size="));
  return flag === undefined ? "V8 default" : `${flag.slice("--max-old-space-size=".length)} MB`;
}
