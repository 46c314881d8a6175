import type { Elector } from "../elector.js";

/** One leadership term as seen on a common clock: when the leader could act, and its token. */
export interface LeadershipInterval {
  readonly candidate: string;
  readonly fencingToken: number;
  /** When `isLeader()` became true. */
  readonly startMs: number;
  /** When it became false: the step-down, or the renew deadline if that came first. */
  readonly endMs: number;
  /** False while the term is still running (then `endMs` is its current deadline). */
  readonly closed: boolean;
}

/** How to read an elector's times on the common clock. Default: they already are. */
export interface CommonClock {
  /** Maps a reading of the elector's clock to the common clock. */
  readonly toCommonMs?: (localMs: number) => number;
  /** The common clock now; used for event times when given. */
  readonly commonNow?: () => number;
}

interface OpenTerm {
  readonly candidate: string;
  readonly fencingToken: number;
  readonly startMs: number;
  safeUntilMs: number;
}

/**
 * Records every candidate's safe-to-act intervals on one common clock and checks the two safety
 * properties: no two intervals overlap, and fencing tokens strictly increase from term to term.
 * Electors on different clocks pass a function that maps their monotonic readings to the common one.
 */
export class LeadershipLog {
  readonly #closed: LeadershipInterval[] = [];
  readonly #open = new Map<string, OpenTerm>();

  /**
   * Starts recording `elector`'s terms. Returns a function that stops recording. Electors on another
   * clock pass `toCommonMs` (their readings on the common clock) and, to read event times exactly
   * rather than through a conversion, `commonNow` (events are delivered synchronously).
   */
  attach(elector: Elector, clocks: CommonClock = {}): () => void {
    const candidate = elector.identity;
    const toCommonMs = clocks.toCommonMs ?? ((localMs: number) => localMs);
    const commonNow = clocks.commonNow;
    const at = (localMs: number): number => (commonNow === undefined ? toCommonMs(localMs) : commonNow());
    return elector.subscribe((event) => {
      switch (event.type) {
        case "started-leading":
          this.#open.set(candidate, {
            candidate,
            fencingToken: event.fencingToken,
            startMs: at(event.atMs),
            safeUntilMs: toCommonMs(event.safeUntilMs),
          });
          return;
        case "renewed": {
          const term = this.#open.get(candidate);
          if (term !== undefined) term.safeUntilMs = toCommonMs(event.safeUntilMs);
          return;
        }
        case "stopped-leading": {
          const term = this.#open.get(candidate);
          if (term === undefined) return;
          this.#open.delete(candidate);
          const endMs = Math.min(at(event.atMs), term.safeUntilMs);
          this.#closed.push({ ...term, endMs, closed: true });
          return;
        }
        default:
          return;
      }
    });
  }

  /** Every interval so far, ordered by start; running terms end at their current deadline. */
  intervals(): LeadershipInterval[] {
    const running = [...this.#open.values()].map((term) => ({
      ...term,
      endMs: term.safeUntilMs,
      closed: false,
    }));
    return [...this.#closed, ...running]
      .map(({ candidate, fencingToken, startMs, endMs, closed }) => ({
        candidate,
        fencingToken,
        startMs,
        endMs,
        closed,
      }))
      .sort((a, b) => a.startMs - b.startMs);
  }

  /** Pairs of intervals that overlap in time (empty when safety held). */
  overlaps(): [LeadershipInterval, LeadershipInterval][] {
    const sorted = this.intervals().filter((interval) => interval.endMs > interval.startMs);
    const found: [LeadershipInterval, LeadershipInterval][] = [];
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length; j++) {
        const a = sorted[i];
        const b = sorted[j];
        if (a === undefined || b === undefined) continue;
        if (b.startMs >= a.endMs) break;
        found.push([a, b]);
      }
    }
    return found;
  }

  /** Pairs of consecutive terms whose tokens do not strictly increase (empty when fencing held). */
  tokenRegressions(): [LeadershipInterval, LeadershipInterval][] {
    const sorted = this.intervals();
    const found: [LeadershipInterval, LeadershipInterval][] = [];
    for (let i = 1; i < sorted.length; i++) {
      const before = sorted[i - 1];
      const after = sorted[i];
      if (before !== undefined && after !== undefined && after.fencingToken <= before.fencingToken) {
        found.push([before, after]);
      }
    }
    return found;
  }

  /** Throws a readable error if two intervals overlap or a token failed to increase. */
  assertSafe(): void {
    const describe = (interval: LeadershipInterval): string =>
      `${interval.candidate}#${interval.fencingToken} [${interval.startMs.toFixed(3)}, ${interval.endMs.toFixed(3)})`;
    const overlap = this.overlaps()[0];
    if (overlap !== undefined) {
      throw new Error(`two leaders at once: ${describe(overlap[0])} overlaps ${describe(overlap[1])}`);
    }
    const regression = this.tokenRegressions()[0];
    if (regression !== undefined) {
      throw new Error(
        `fencing token did not increase: ${describe(regression[0])} then ${describe(regression[1])}`,
      );
    }
  }
}
