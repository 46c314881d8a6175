/**
 * Reads every candidate's work log after a campaign and says what went wrong, on the host's one
 * monotonic clock:
 * - overlap: two terms (an identity, an incarnation, a term number) whose work spans intersect:
 *   two processes acted as leader at once;
 * - reused token: two terms started with the same fencing token;
 * - stale token: a term started with a token lower than one an earlier term already had;
 * - the longest leaderless gap: the longest time with no work by anyone;
 * - recovery: for each fault, the time from its heal to the next work by anyone.
 * Each violation is attributed to the faults around it; it is expected when one of them is a fault
 * the documentation predicts it for (drift beyond the bound, Redis losing its data), else unexpected.
 */
import type { LogLine } from "./work-log.ts";
import { nsToMs } from "./work-log.ts";

export type ViolationKind = "overlap" | "stale-token" | "reused-token";

/** A fault as the campaign applied it, on the host's monotonic clock (ms). */
export interface FaultRecord {
  readonly index: number;
  readonly kind: string;
  /** What it hit: a candidate identity, a cluster member, `"store"`. */
  readonly target: string;
  /** Parameters in words (duration, rate, latency). */
  readonly detail: string;
  readonly startMs: number;
  /** When healing completed: the process resumed, the link restored, the store ready again. */
  readonly healMs: number;
  /** Violations the documentation predicts for this fault. */
  readonly expected: readonly ViolationKind[];
  /** The store itself was down: recovery after it is held to retry period + lease. */
  readonly storeOutage: boolean;
}

/** One leadership term seen in the logs. */
export interface Term {
  readonly identity: string;
  readonly incarnation: number;
  readonly term: number;
  readonly token: number;
  /** When `onStartedLeading` ran (its term line), or the first work when the line is missing. */
  readonly startedMs: number;
  /** First and last work step; `null` when the term did no work. */
  readonly firstWorkMs: number | null;
  readonly lastWorkMs: number | null;
  readonly workSteps: number;
}

export interface Violation {
  readonly kind: ViolationKind;
  readonly startMs: number;
  readonly endMs: number;
  /** The terms involved, as `identity#incarnation.term (token N)`. */
  readonly terms: readonly string[];
  readonly detail: string;
  /** Indexes of the faults around it. */
  readonly faults: readonly number[];
  readonly expected: boolean;
}

export interface Recovery {
  readonly fault: number;
  readonly kind: string;
  /** From heal to the next work step by anyone; `null` when none came before the campaign ended. */
  readonly ms: number | null;
  readonly storeOutage: boolean;
}

export interface CheckResult {
  readonly terms: readonly Term[];
  readonly workSteps: number;
  readonly violations: readonly Violation[];
  readonly longestGap: {
    readonly ms: number;
    readonly fromMs: number;
    readonly toMs: number;
    readonly faults: readonly number[];
  } | null;
  readonly recoveries: readonly Recovery[];
}

export interface CheckOptions {
  /** How long after a fault healed a violation is still put down to it. */
  readonly attributionMs: number;
}

/** Collects the terms of all logs. */
export function termsOf(lines: readonly LogLine[]): Term[] {
  interface Building {
    identity: string;
    incarnation: number;
    term: number;
    token: number;
    startedMs: number | null;
    firstWorkMs: number | null;
    lastWorkMs: number | null;
    workSteps: number;
  }
  const terms = new Map<string, Building>();
  for (const line of lines) {
    if (line.event !== "term" && line.event !== "work") continue;
    const key = `${line.identity}#${line.incarnation}.${line.term}`;
    let term = terms.get(key);
    if (term === undefined) {
      term = {
        identity: line.identity,
        incarnation: line.incarnation,
        term: line.term,
        token: line.token,
        startedMs: null,
        firstWorkMs: null,
        lastWorkMs: null,
        workSteps: 0,
      };
      terms.set(key, term);
    }
    const atMs = nsToMs(line.t);
    if (line.event === "term") term.startedMs = atMs;
    else {
      term.workSteps++;
      term.firstWorkMs = term.firstWorkMs === null ? atMs : Math.min(term.firstWorkMs, atMs);
      term.lastWorkMs = term.lastWorkMs === null ? atMs : Math.max(term.lastWorkMs, atMs);
    }
  }
  return [...terms.values()]
    .map((term) => ({ ...term, startedMs: term.startedMs ?? term.firstWorkMs ?? 0 }))
    .sort((a, b) => a.startedMs - b.startedMs);
}

/** Checks the logs against the faults. */
export function check(
  lines: readonly LogLine[],
  faults: readonly FaultRecord[],
  options: CheckOptions,
): CheckResult {
  const terms = termsOf(lines);
  const found: Omit<Violation, "faults" | "expected">[] = [];
  const name = (term: Term): string =>
    `${term.identity}#${term.incarnation}.${term.term} (token ${term.token})`;

  // Overlapping work: sweep the terms that worked, by first step.
  const working = terms
    .filter((term) => term.firstWorkMs !== null && term.lastWorkMs !== null)
    .sort((a, b) => (a.firstWorkMs ?? 0) - (b.firstWorkMs ?? 0));
  for (const [index, term] of working.entries()) {
    const first = term.firstWorkMs ?? 0;
    for (const earlier of working.slice(0, index)) {
      const earlierLast = earlier.lastWorkMs ?? 0;
      if (earlierLast < first) continue;
      found.push({
        kind: "overlap",
        startMs: first,
        endMs: Math.min(earlierLast, term.lastWorkMs ?? first),
        terms: [name(earlier), name(term)],
        detail: `both worked for ${(Math.min(earlierLast, term.lastWorkMs ?? first) - first).toFixed(1)} ms`,
      });
    }
  }

  // Tokens: in the order terms started, each must exceed every one before it.
  const byToken = new Map<number, Term>();
  let highest: Term | undefined;
  for (const term of terms) {
    const same = byToken.get(term.token);
    if (same !== undefined) {
      found.push({
        kind: "reused-token",
        startMs: term.startedMs,
        endMs: term.startedMs,
        terms: [name(same), name(term)],
        detail: `token ${term.token} started two terms`,
      });
    } else if (highest !== undefined && term.token < highest.token) {
      found.push({
        kind: "stale-token",
        startMs: term.startedMs,
        endMs: term.startedMs,
        terms: [name(highest), name(term)],
        detail: `token ${term.token} came after ${highest.token}`,
      });
    }
    byToken.set(term.token, term);
    if (highest === undefined || term.token > highest.token) highest = term;
  }

  const around = (startMs: number, endMs: number): FaultRecord[] =>
    faults.filter((fault) => fault.startMs <= endMs && startMs <= fault.healMs + options.attributionMs);
  const violations: Violation[] = found.map((violation) => {
    const near = around(violation.startMs, violation.endMs);
    return {
      ...violation,
      faults: near.map((fault) => fault.index),
      expected: near.some((fault) => fault.expected.includes(violation.kind)),
    };
  });

  // Gaps and recoveries, from every work step in time order.
  const steps = lines
    .filter((line) => line.event === "work")
    .map((line) => nsToMs(line.t))
    .sort((a, b) => a - b);
  let longestGap: CheckResult["longestGap"] = null;
  for (let index = 1; index < steps.length; index++) {
    const fromMs = steps[index - 1] ?? 0;
    const toMs = steps[index] ?? 0;
    if (longestGap === null || toMs - fromMs > longestGap.ms) {
      longestGap = { ms: toMs - fromMs, fromMs, toMs, faults: around(fromMs, toMs).map((f) => f.index) };
    }
  }
  const recoveries: Recovery[] = faults.map((fault) => {
    const next = steps.find((step) => step >= fault.healMs);
    return {
      fault: fault.index,
      kind: fault.kind,
      ms: next === undefined ? null : next - fault.healMs,
      storeOutage: fault.storeOutage,
    };
  });
  return { terms, workSteps: steps.length, violations, longestGap, recoveries };
}
