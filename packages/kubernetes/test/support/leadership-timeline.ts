// What every candidate of a mixed election (client-go processes and Tenure electors) reported,
// on one clock: CLOCK_MONOTONIC in nanoseconds (process.hrtime.bigint() on Linux, and the
// `monotonicNs` the Go program prints). Tests wait on these entries instead of sleeping, and check
// that no two leadership intervals overlap.

/** Which implementation a candidate runs. */
export type Side = "client-go" | "tenure";

/** One thing a candidate reported (or, for `exited`, that this process saw happen to it). */
export interface TimelineEntry {
  /** CLOCK_MONOTONIC, nanoseconds. */
  readonly atNs: bigint;
  readonly who: string;
  readonly side: Side;
  readonly kind: "ready" | "new-leader" | "started-leading" | "stopped-leading" | "store-error" | "exited";
  /** For `new-leader`: the holder the candidate now sees ("" when none). */
  readonly leader?: string;
  readonly detail?: string;
}

interface Waiter {
  readonly predicate: (entry: TimelineEntry) => boolean;
  readonly resolve: (entry: TimelineEntry) => void;
  readonly reject: (error: Error) => void;
}

/** The entries in arrival order, with waiters that resolve on the first entry matching a predicate. */
export class Timeline {
  readonly entries: TimelineEntry[] = [];
  readonly originNs: bigint = process.hrtime.bigint();
  readonly #waiters = new Set<Waiter>();
  #failure: Error | undefined;

  add(entry: TimelineEntry): void {
    this.entries.push(entry);
    for (const waiter of [...this.#waiters]) {
      if (waiter.predicate(entry)) {
        this.#waiters.delete(waiter);
        waiter.resolve(entry);
      }
    }
  }

  /** Something happened that the test did not ask for: every wait, present and future, fails with it. */
  fail(error: Error): void {
    this.#failure ??= error;
    for (const waiter of this.#waiters) waiter.reject(this.#decorate(error));
    this.#waiters.clear();
  }

  /** The first unexpected happening, if any. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Index of the next entry: pass it to {@link waitFor} to wait only for what happens from now on. */
  mark(): number {
    return this.entries.length;
  }

  /**
   * The first entry from index `from` on matching `predicate`; rejects after `timeoutMs` (naming
   * what was awaited and the recent entries) or as soon as {@link fail} is called.
   */
  waitFor(
    description: string,
    predicate: (entry: TimelineEntry) => boolean,
    timeoutMs: number,
    from = 0,
  ): Promise<TimelineEntry> {
    if (this.#failure !== undefined) return Promise.reject(this.#decorate(this.#failure));
    const found = this.entries.slice(from).find(predicate);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(this.#decorate(new Error(`no ${description} within ${timeoutMs} ms`)));
      }, timeoutMs);
      const waiter: Waiter = {
        predicate,
        resolve: (entry) => {
          clearTimeout(timer);
          resolve(entry);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.#waiters.add(waiter);
    });
  }

  /** Milliseconds since the timeline began, for messages. */
  relativeMs(atNs: bigint): string {
    return (Number(atNs - this.originNs) / 1e6).toFixed(1);
  }

  /** The last `count` entries, one a line. */
  describe(count = 30): string {
    return this.entries
      .slice(-count)
      .map(
        (entry) =>
          `  ${this.relativeMs(entry.atNs).padStart(9)} ms  ${entry.side.padEnd(9)} ${entry.who.padEnd(8)} ${entry.kind}` +
          `${entry.leader === undefined ? "" : ` ${JSON.stringify(entry.leader)}`}${entry.detail === undefined ? "" : ` (${entry.detail})`}`,
      )
      .join("\n");
  }

  #decorate(error: Error): Error {
    return new Error(`${error.message}\nlast events (ms since start):\n${this.describe()}`, { cause: error });
  }
}

/** One term of one candidate, on CLOCK_MONOTONIC. */
export interface LeadershipInterval {
  readonly who: string;
  readonly side: Side;
  readonly startNs: bigint;
  /** Tenure only: the end of the safe-to-act interval as of the last renewal. */
  safeUntilNs: bigint | undefined;
  /** When the candidate stopped acting (capped at safeUntilNs); undefined while it leads. */
  endNs: bigint | undefined;
}

/** Every leadership interval of an election, and the check that no two of them overlap. */
export class LeadershipIntervals {
  readonly all: LeadershipInterval[] = [];
  readonly #open = new Map<string, LeadershipInterval>();

  /** `who` started leading at `startNs`. Throws if it already leads (one term at a time). */
  open(who: string, side: Side, startNs: bigint, safeUntilNs?: bigint): void {
    if (this.#open.has(who)) throw new Error(`${who} reported started-leading twice in one term`);
    const interval: LeadershipInterval = { who, side, startNs, safeUntilNs, endNs: undefined };
    this.#open.set(who, interval);
    this.all.push(interval);
  }

  /** A renewal moved the end of `who`'s safe-to-act interval. */
  extend(who: string, safeUntilNs: bigint): void {
    const interval = this.#open.get(who);
    if (interval !== undefined) interval.safeUntilNs = safeUntilNs;
  }

  /** `who` stopped acting at `atNs` (or earlier, at its safe-to-act deadline). No-op when it does not lead. */
  close(who: string, atNs: bigint): LeadershipInterval | undefined {
    const interval = this.#open.get(who);
    if (interval === undefined) return undefined;
    this.#open.delete(who);
    const safe = interval.safeUntilNs;
    interval.endNs = safe !== undefined && safe < atNs ? safe : atNs;
    return interval;
  }

  /** The interval `who` is in, if it leads. */
  current(who: string): LeadershipInterval | undefined {
    return this.#open.get(who);
  }

  /** Every pair of intervals that overlap (an open interval extends to `nowNs`), described. */
  overlaps(nowNs: bigint, relativeMs: (atNs: bigint) => string): string[] {
    const sorted = [...this.all].sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : 0));
    const found: string[] = [];
    const describe = (interval: LeadershipInterval): string =>
      `${interval.who} (${interval.side}) [${relativeMs(interval.startNs)}, ${relativeMs(interval.endNs ?? nowNs)}] ms`;
    for (let i = 0; i < sorted.length; i += 1) {
      const earlier = sorted[i];
      if (earlier === undefined) continue;
      for (const later of sorted.slice(i + 1)) {
        if (later.startNs < (earlier.endNs ?? nowNs))
          found.push(`${describe(earlier)} overlaps ${describe(later)}`);
      }
    }
    return found;
  }
}
