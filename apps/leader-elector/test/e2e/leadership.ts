// Every candidate's leadership on one clock, CLOCK_MONOTONIC in nanoseconds (process.hrtime.bigint()
// here, `monotonicNs` in the Go programs' lines), for the tests that mix 2016-style candidates with
// sidecars:
//
// - a 2016-style candidate (interop/endpoints-elector) leads from its started-leading line to its
//   stopped-leading line, or to the moment its exit is seen when it has none (SIGKILL);
// - a sidecar leads while its `/events` stream tells the program behind it so: from the arrival of a
//   message naming itself, until the first message naming anyone else (or nobody) arrives, and never
//   past the latest `arrival + validForMs` it was given. A stream that ends leaves the last window as
//   it was promised. This is what a program that follows the stream may act on.
//
// Waiters resolve on the start of an interval, so tests wait on events, not on sleeps.
import {
  EndpointsCandidate,
  type EndpointsCandidateOptions,
} from "../../../../packages/kubernetes/test/support/endpoints-elector.js";
import type { Replica } from "./replica.js";

export interface Interval {
  readonly who: string;
  readonly kind: "2016" | "sidecar";
  readonly startNs: bigint;
  /** Undefined while it leads. */
  endNs: bigint | undefined;
}

interface Waiter {
  readonly predicate: (interval: Interval) => boolean;
  readonly resolve: (interval: Interval) => void;
}

export class LeadershipRecorder {
  readonly originNs = process.hrtime.bigint();
  readonly intervals: Interval[] = [];
  readonly #open = new Map<string, Interval>();
  readonly #waiters = new Set<Waiter>();
  readonly #streams: AbortController[] = [];
  readonly #failures: Error[] = [];

  /** Protocol errors and broken streams seen so far. */
  get failures(): readonly Error[] {
    return this.#failures;
  }

  /** Starts a 2016-style candidate whose leadership is recorded. */
  legacy(
    options: Omit<EndpointsCandidateOptions, "onEvent" | "onExit" | "onProtocolError">,
  ): EndpointsCandidate {
    const who = options.id;
    return new EndpointsCandidate({
      ...options,
      onEvent: (event) => {
        if (event.event === "started-leading") this.#start(who, "2016", event.monotonicNs);
        if (event.event === "stopped-leading") this.#end(who, event.monotonicNs);
      },
      onExit: (exit) => this.#end(who, exit.observedNs),
      onProtocolError: (error) => this.#failures.push(error),
    });
  }

  /** Follows a sidecar's `/events` stream until it ends or {@link close} is called. */
  follow(replica: Replica): void {
    const abort = new AbortController();
    this.#streams.push(abort);
    void (async () => {
      const response = await fetch(`${replica.url}/events`, { signal: abort.signal });
      const reader = response.body?.getReader();
      if (reader === undefined) throw new Error(`${replica.id}: /events has no body`);
      const decoder = new TextDecoder();
      let buffer = "";
      let claimedUntilNs: bigint | undefined;
      try {
        for (;;) {
          const chunk = await reader.read();
          if (chunk.done) break;
          const arrivedNs = process.hrtime.bigint();
          buffer += decoder.decode(chunk.value, { stream: true });
          let end = buffer.indexOf("\n\n");
          while (end !== -1) {
            const data = /^data: (.*)$/m.exec(buffer.slice(0, end))?.[1];
            buffer = buffer.slice(end + 2);
            end = buffer.indexOf("\n\n");
            if (data === undefined) continue;
            const answer = JSON.parse(data) as { name: string; validForMs: number };
            const open = this.#open.get(replica.id);
            if (answer.name === replica.id && answer.validForMs > 0) {
              const untilNs = arrivedNs + BigInt(Math.round(answer.validForMs * 1e6));
              if (open === undefined || (claimedUntilNs !== undefined && arrivedNs > claimedUntilNs)) {
                if (open !== undefined && claimedUntilNs !== undefined) this.#end(replica.id, claimedUntilNs);
                this.#start(replica.id, "sidecar", arrivedNs);
              }
              claimedUntilNs =
                claimedUntilNs === undefined || untilNs > claimedUntilNs ? untilNs : claimedUntilNs;
            } else if (open !== undefined && claimedUntilNs !== undefined) {
              this.#end(replica.id, arrivedNs < claimedUntilNs ? arrivedNs : claimedUntilNs);
              claimedUntilNs = undefined;
            }
          }
        }
      } finally {
        // The stream ended (the sidecar exited, or it broke): the last window stands as promised.
        if (claimedUntilNs !== undefined) this.#end(replica.id, claimedUntilNs);
      }
    })().catch((error: unknown) => {
      if (!abort.signal.aborted && !(error instanceof TypeError)) {
        this.#failures.push(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  /** Resolves with the next interval to start (from now on) whose candidate matches `who`. */
  nextLeader(who: (id: string) => boolean, timeoutMs: number, description = "leader"): Promise<Interval> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`no new ${description} within ${timeoutMs} ms\n${this.describe()}`));
      }, timeoutMs);
      const waiter: Waiter = {
        predicate: (interval) => who(interval.who),
        resolve: (interval) => {
          clearTimeout(timer);
          resolve(interval);
        },
      };
      this.#waiters.add(waiter);
    });
  }

  /** Who leads now, as recorded. */
  current(): Interval | undefined {
    return [...this.#open.values()].at(-1);
  }

  /** Every pair of intervals of different candidates that overlap, described. */
  overlaps(): string[] {
    const nowNs = process.hrtime.bigint();
    const sorted = [...this.intervals].sort((a, b) => (a.startNs < b.startNs ? -1 : 1));
    const found: string[] = [];
    sorted.forEach((earlier, index) => {
      for (const later of sorted.slice(index + 1)) {
        if (later.who !== earlier.who && later.startNs < (earlier.endNs ?? nowNs)) {
          found.push(`${this.#describe(earlier)} overlaps ${this.#describe(later)}`);
        }
      }
    });
    return found;
  }

  /** Every interval, one a line, in ms since the recorder began. */
  describe(): string {
    return this.intervals.map((interval) => `  ${this.#describe(interval)}`).join("\n");
  }

  close(): void {
    for (const stream of this.#streams) stream.abort();
  }

  #ms(ns: bigint): string {
    return (Number(ns - this.originNs) / 1e6).toFixed(1);
  }

  #describe(interval: Interval): string {
    const end = interval.endNs === undefined ? "…" : this.#ms(interval.endNs);
    return `${interval.who} (${interval.kind}) [${this.#ms(interval.startNs)}, ${end}] ms`;
  }

  #start(who: string, kind: Interval["kind"], atNs: bigint): void {
    if (this.#open.has(who)) return;
    const interval: Interval = { who, kind, startNs: atNs, endNs: undefined };
    this.#open.set(who, interval);
    this.intervals.push(interval);
    for (const waiter of [...this.#waiters]) {
      if (waiter.predicate(interval)) {
        this.#waiters.delete(waiter);
        waiter.resolve(interval);
      }
    }
  }

  #end(who: string, atNs: bigint): void {
    const interval = this.#open.get(who);
    if (interval === undefined) return;
    this.#open.delete(who);
    interval.endNs = atNs;
  }
}
