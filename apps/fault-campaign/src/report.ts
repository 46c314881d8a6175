/**
 * A campaign's outcome: the JSON written with `--out` (schema 1, documented in docs/safety/README.md)
 * and the summary printed at the end.
 */
import type { ElectionTiming } from "@tenure/core";
import type { CheckResult, FaultRecord, Violation, ViolationKind } from "./checker.ts";

/** Distribution of a set of durations, in ms. */
export interface Distribution {
  readonly count: number;
  readonly medianMs: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
}

export interface CampaignReport {
  readonly schema: 1;
  /**
   * How the seed becomes faults: `"stream-per-fault"` (each fault draws from its own stream, so the
   * seed replays every fault). Absent in reports made before: one stream for the whole campaign,
   * which replays only up to the first fault whose draws depended on the fleet's state.
   */
  readonly plan?: "stream-per-fault";
  readonly backend: string;
  /** Server and setup, e.g. `Redis 7.0.15 (appendonly, appendfsync always)`. */
  readonly store: string;
  readonly seed: number;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly timing: ElectionTiming;
  readonly candidates: number;
  /** The fault kinds drawn from. */
  readonly faultKinds: readonly string[];
  readonly summary: {
    readonly faults: number;
    readonly faultsByKind: Readonly<Record<string, number>>;
    readonly terms: number;
    readonly workSteps: number;
    readonly violationsByKind: Readonly<Record<ViolationKind, { expected: number; unexpected: number }>>;
    readonly unexpectedViolations: number;
    readonly longestGapMs: number | null;
    /** The faults around the longest gap. */
    readonly longestGapFaults: readonly number[];
    /** From the heal of each store outage to the next leader's work, against retry period + lease. */
    readonly recoveryAfterStoreOutage: Distribution & {
      readonly boundMs: number;
      readonly overBound: number;
    };
    /** From the heal of every fault to the next leader's work. */
    readonly recoveryAfterAnyFault: Distribution;
    /** Recovery per fault kind. */
    readonly recoveryByKind: Readonly<Record<string, Distribution>>;
  };
  readonly faults: readonly FaultRecord[];
  readonly violations: readonly Violation[];
}

export interface SummaryInput {
  readonly backend: string;
  readonly label: string;
  readonly seed: number;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly timing: ElectionTiming;
  readonly candidates: number;
  readonly enabled: readonly string[];
  readonly faults: readonly FaultRecord[];
  readonly result: CheckResult;
}

export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (quantile: number): number | null =>
    sorted.length === 0
      ? null
      : round(sorted[Math.min(sorted.length - 1, Math.ceil(quantile * sorted.length) - 1)] ?? 0);
  return { count: sorted.length, medianMs: at(0.5), p99Ms: at(0.99), maxMs: at(1) };
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

export function summarize(input: SummaryInput): CampaignReport {
  const { result, faults, timing } = input;
  const faultsByKind: Record<string, number> = {};
  for (const fault of faults) faultsByKind[fault.kind] = (faultsByKind[fault.kind] ?? 0) + 1;
  const violationsByKind: Record<ViolationKind, { expected: number; unexpected: number }> = {
    overlap: { expected: 0, unexpected: 0 },
    "stale-token": { expected: 0, unexpected: 0 },
    "reused-token": { expected: 0, unexpected: 0 },
  };
  for (const violation of result.violations) {
    violationsByKind[violation.kind][violation.expected ? "expected" : "unexpected"]++;
  }
  const boundMs = timing.retryPeriodMs + timing.leaseDurationMs;
  const storeRecoveries = result.recoveries.filter((recovery) => recovery.storeOutage);
  const storeTimes = storeRecoveries.map((recovery) => recovery.ms ?? Number.POSITIVE_INFINITY);
  const recoveryByKind: Record<string, Distribution> = {};
  for (const kind of Object.keys(faultsByKind)) {
    recoveryByKind[kind] = distribution(
      result.recoveries
        .filter((recovery) => recovery.kind === kind && recovery.ms !== null)
        .map((r) => r.ms ?? 0),
    );
  }
  return {
    schema: 1,
    plan: "stream-per-fault",
    backend: input.backend,
    store: input.label,
    seed: input.seed,
    startedAt: input.startedAt,
    durationMs: round(input.durationMs),
    timing,
    candidates: input.candidates,
    faultKinds: input.enabled,
    summary: {
      faults: faults.length,
      faultsByKind,
      terms: result.terms.length,
      workSteps: result.workSteps,
      violationsByKind,
      unexpectedViolations: result.violations.filter((violation) => !violation.expected).length,
      longestGapMs: result.longestGap === null ? null : round(result.longestGap.ms),
      longestGapFaults: result.longestGap?.faults ?? [],
      recoveryAfterStoreOutage: {
        ...distribution(storeTimes.filter(Number.isFinite)),
        boundMs,
        overBound: storeTimes.filter((ms) => ms > boundMs).length,
      },
      recoveryAfterAnyFault: distribution(
        result.recoveries.filter((recovery) => recovery.ms !== null).map((recovery) => recovery.ms ?? 0),
      ),
      recoveryByKind,
    },
    faults: faults.map((fault) => ({ ...fault, startMs: round(fault.startMs), healMs: round(fault.healMs) })),
    violations: result.violations,
  };
}

/** The summary in a few lines of text, for the terminal. */
export function formatSummary(report: CampaignReport): string {
  const { summary } = report;
  const kinds = Object.entries(summary.faultsByKind)
    .map(([kind, count]) => `${kind} ${count}`)
    .join(", ");
  const violations = Object.entries(summary.violationsByKind)
    .map(([kind, { expected, unexpected }]) => `${kind}: ${unexpected} unexpected, ${expected} expected`)
    .join("; ");
  const store = summary.recoveryAfterStoreOutage;
  const fmt = (ms: number | null): string => (ms === null ? "-" : `${ms} ms`);
  return [
    `fault campaign on ${report.backend} (${report.store}), seed ${report.seed}, ${(report.durationMs / 1000).toFixed(0)} s`,
    `  timing: lease ${report.timing.leaseDurationMs} ms, renew deadline ${report.timing.renewDeadlineMs} ms, retry ${report.timing.retryPeriodMs} ms; ${report.candidates} candidates`,
    `  faults: ${summary.faults} (${kinds})`,
    `  terms: ${summary.terms}, work steps: ${summary.workSteps}`,
    `  violations: ${violations}`,
    `  longest leaderless gap: ${fmt(summary.longestGapMs)} (around faults ${summary.longestGapFaults.join(", ") || "none"})`,
    `  recovery after a store outage: median ${fmt(store.medianMs)}, p99 ${fmt(store.p99Ms)}, max ${fmt(store.maxMs)} over ${store.count}; bound ${store.boundMs} ms, over it: ${store.overBound}`,
    ...report.violations
      .filter((violation) => !violation.expected)
      .slice(0, 10)
      .map(
        (violation) =>
          `  UNEXPECTED ${violation.kind} at ${violation.startMs.toFixed(1)} ms: ${violation.terms.join(" / ")}: ${violation.detail} (faults ${violation.faults.join(", ") || "none"})`,
      ),
  ].join("\n");
}
