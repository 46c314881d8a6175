/**
 * Following an election without taking part in it: who leads, and until when that answer may be
 * relied on, for dashboards, routers and clients that must find the leader. The observer only reads.
 *
 * How long a leader is vouched for. A holder acts until its renew deadline, counted from when it SENT
 * its last successful write (brief.md). An observer cannot see send times, and a record read for the
 * first time may be arbitrarily old, so it vouches only from evidence it gathered itself:
 * - when a read shows a version that an earlier read (sent at `t`) did not, that version was committed
 *   after `t` (the earlier read was served after it was sent, and versions only move forward);
 * - a Tenure elector counts a write only if its answer came within its operation timeout, so the
 *   write was sent after commit − operationTimeout, and its writer may act until at least
 *   commit − operationTimeout + renewDeadline > t + (renewDeadline − operationTimeout).
 * The observer therefore names a holder until `t + leaderValidityMs`, where `leaderValidityMs` is at
 * most renewDeadline − operationTimeout of the candidates (default: a quarter of the lease, below
 * the 5 s of 15 s that client-go's and Tenure's defaults give, leaving room for clock-rate drift).
 * All of it on the observer's own monotonic clock, never from the stored timestamps.
 *
 * Consequences, deliberate: the first record seen names a `holder` but no `leader` until a change is
 * seen (a live leader renews every retry period, so that is one retry period and one read); a
 * released lock is "no leader" at once; a leader that stops renewing is dropped `leaderValidityMs`
 * after the last write the observer saw, before any candidate may take over (a full lease).
 * What it cannot see: a write whose answer reached its writer too late (the writer did not count
 * it) looks like a renewal; the writer's term still ends within one renew deadline of its last
 * counted write, which is what it had already been vouched for.
 */
import { boundedCall } from "./adapter/bounded-call.js";
import type { Clock } from "./clock.js";
import { systemClock } from "./clock.js";
import { assertValidElectionName } from "./config.js";
import { InvalidArgumentError, type TenureError, toTenureError } from "./errors.js";
import type { Snapshot } from "./record.js";
import type { LockStore } from "./store.js";

/** Options of {@link observe}. */
export interface ObserveOptions {
  /** Ends the stream: the iterator finishes (done) and stops every store call. */
  readonly signal?: AbortSignal;
  /** Clocks and timers. Default the process's (`systemClock`). Use the electors' clock in tests. */
  readonly clock?: Clock;
  /**
   * How long after the observer first could have missed a write its holder is named as leader: at
   * most the candidates' renewDeadline − operationTimeout (5 000 at the defaults). Clamped to the
   * record's lease. Default: a quarter of the record's lease.
   */
  readonly leaderValidityMs?: number;
  /**
   * How often the lock is read on a store without `watch`. While the lock names a holder the observer
   * reads six times per `leaderValidityMs`, with or without watch, or every renewal would
   * look late (see the top of observe.ts). Default 1 000.
   */
  readonly pollIntervalMs?: number;
  /** Time limit of one read. Default 5 000. */
  readonly operationTimeoutMs?: number;
  /**
   * `false` (default): a store error is yielded as an `error` item and the observer keeps going (it
   * re-reads after `pollIntervalMs`, re-watches after a broken watch). `true`: the iterator throws it.
   */
  readonly stopOnError?: boolean;
  /** Most items buffered for a consumer that does not keep up; older leader items are dropped first. Default 100. */
  readonly maxBuffered?: number;
}

/** What the observer can tell now. Yielded on every change (renewals included: they move `validUntilMs`). */
export interface LeaderObservation {
  readonly type: "leader";
  /** Who leads, vouched for until `validUntilMs`; `null`: no leader known now (none, released, lapsed, unknown). */
  readonly leader: string | null;
  /** Who the record names, vouched or not (`null`: nobody, or no readable record). For display. */
  readonly holder: string | null;
  /**
   * The record's `leaderTransitions`: the fencing token the holder's elector hands out for its term
   * (`Leadership.fencingToken`). After a release it is the last term's. `null` with no readable record.
   */
  readonly token: number | null;
  /** Observer monotonic time until which `leader` holds; `null` with no leader. Renewals move it later. */
  readonly validUntilMs: number | null;
  /** Why this item: a new holder or term, a renewal, a release, a lapse, a deletion, an unreadable record. */
  readonly reason: "initial" | "changed" | "renewed" | "released" | "lapsed" | "absent" | "corrupt";
  /** The store version the answer rests on (`null` when the lock is absent). */
  readonly version: string | null;
  /** Observer monotonic time of this item. */
  readonly atMs: number;
}

/** A store call of the observer failed; the stream goes on unless `stopOnError`. */
export interface ObserverError {
  readonly type: "error";
  readonly operation: "get" | "watch";
  readonly error: TenureError;
  readonly atMs: number;
}

export type ObserveItem = LeaderObservation | ObserverError;

/** A sample: what one read answered, and when it was sent (the lower bound of whatever follows it). */
interface Current {
  readonly snapshot: Snapshot | null;
  /** Lower bound of the commit time of this version on the observer's clock; `null`: unknown. */
  readonly committedAfterMs: number | null;
}

/**
 * Follows the election `name` on `store` without campaigning: the observer only reads (`get`, and
 * `watch` when the store declares it). Yields a {@link LeaderObservation} at once with what the first
 * read shows, then on every change, including "no leader" when the lock is released or the vouched
 * time lapses; store failures come as {@link ObserverError} items. End it with `signal` or `return()`
 * (`for await … break`). See the top of this file for the rule that bounds `validUntilMs`.
 *
 * ```ts
 * for await (const item of observe(store, "my-job", { signal })) {
 *   if (item.type === "leader") route(item.leader, item.validUntilMs);
 * }
 * ```
 */
export function observe(
  store: LockStore,
  name: string,
  options: ObserveOptions = {},
): AsyncIterableIterator<ObserveItem> {
  if (typeof store !== "object" || store === null || typeof store.get !== "function") {
    throw new InvalidArgumentError("store", "must be a LockStore (get/create/update/close)");
  }
  const context = { backend: store.backend, election: String(name) };
  assertValidElectionName(name, context);
  const positive = (field: keyof ObserveOptions, value: number | undefined, fallback: number): number => {
    const resolved = value ?? fallback;
    if (typeof resolved !== "number" || !Number.isFinite(resolved) || resolved <= 0) {
      throw new InvalidArgumentError(field, `must be a positive number, got ${String(resolved)}`, context);
    }
    return resolved;
  };
  const pollIntervalMs = positive("pollIntervalMs", options.pollIntervalMs, 1000);
  const operationTimeoutMs = positive("operationTimeoutMs", options.operationTimeoutMs, 5000);
  const validityOption =
    options.leaderValidityMs === undefined
      ? undefined
      : positive("leaderValidityMs", options.leaderValidityMs, 1);
  const maxBuffered = options.maxBuffered ?? 100;
  if (!Number.isSafeInteger(maxBuffered) || maxBuffered < 1) {
    throw new InvalidArgumentError(
      "maxBuffered",
      `must be a positive integer, got ${String(maxBuffered)}`,
      context,
    );
  }
  return new Observer(store, name, {
    clock: options.clock ?? systemClock,
    pollIntervalMs,
    operationTimeoutMs,
    validityOption,
    stopOnError: options.stopOnError ?? false,
    maxBuffered,
    signal: options.signal,
    watch: store.capabilities.watch && typeof store.watch === "function",
  });
}

interface ObserverSettings {
  readonly clock: Clock;
  readonly pollIntervalMs: number;
  readonly operationTimeoutMs: number;
  readonly validityOption: number | undefined;
  readonly stopOnError: boolean;
  readonly maxBuffered: number;
  readonly signal: AbortSignal | undefined;
  readonly watch: boolean;
}

class Observer implements AsyncIterableIterator<ObserveItem> {
  readonly #store: LockStore;
  readonly #name: string;
  readonly #settings: ObserverSettings;
  readonly #clock: Clock;
  readonly #abort = new AbortController();
  readonly #items: ObserveItem[] = [];
  #failure: TenureError | undefined;
  #waiter: (() => void) | undefined;
  #started = false;
  #done = false;
  #current: Current | undefined;
  /** Send time of the latest read that answered: whatever version appears next committed after it. */
  #lastReadSentAtMs: number | null = null;
  #last: LeaderObservation | undefined;
  #cancelLapse: (() => void) | undefined;
  #cancelPoll: (() => void) | undefined;
  #reading = false;
  #readAgain = false;
  readonly #onUserAbort = (): void => void this.return();

  constructor(store: LockStore, name: string, settings: ObserverSettings) {
    this.#store = store;
    this.#name = name;
    this.#settings = settings;
    this.#clock = settings.clock;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ObserveItem> {
    return this;
  }

  async next(): Promise<IteratorResult<ObserveItem>> {
    this.#start();
    for (;;) {
      const item = this.#items.shift();
      if (item !== undefined) return { value: item, done: false };
      if (this.#failure !== undefined) {
        const failure = this.#failure;
        this.#failure = undefined;
        throw failure;
      }
      if (this.#done) return { value: undefined, done: true };
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
      });
    }
  }

  async return(): Promise<IteratorResult<ObserveItem>> {
    this.#close();
    this.#items.length = 0;
    return { value: undefined, done: true };
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    const signal = this.#settings.signal;
    if (signal?.aborted) {
      this.#close();
      return;
    }
    signal?.addEventListener("abort", this.#onUserAbort, { once: true });
    if (this.#settings.watch) void this.#watchLoop();
    this.#read();
  }

  #close(): void {
    if (this.#done) return;
    this.#done = true;
    this.#started = true;
    this.#settings.signal?.removeEventListener("abort", this.#onUserAbort);
    this.#abort.abort();
    this.#cancelLapse?.();
    this.#cancelPoll?.();
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  #push(item: ObserveItem): void {
    if (this.#done) return;
    this.#items.push(item);
    if (this.#items.length > this.#settings.maxBuffered) {
      // Drop the oldest leader item: a later one supersedes it. Errors are kept.
      const index = this.#items.findIndex((queued) => queued.type === "leader");
      this.#items.splice(index === -1 ? 0 : index, 1);
    }
    this.#wake();
  }

  #report(operation: "get" | "watch", error: unknown): void {
    const tenureError = toTenureError(error, {
      backend: this.#store.backend,
      election: this.#name,
      operation,
    });
    if (this.#settings.stopOnError) {
      this.#failure = tenureError;
      this.#close();
      return;
    }
    this.#push({ type: "error", operation, error: tenureError, atMs: this.#clock.now() });
  }

  /** Reads the lock now; a read asked for while one is in flight runs right after it. */
  #read(): void {
    if (this.#done) return;
    if (this.#reading) {
      this.#readAgain = true;
      return;
    }
    this.#reading = true;
    this.#cancelPoll?.();
    this.#cancelPoll = undefined;
    const sentAtMs = this.#clock.now();
    const context = { backend: this.#store.backend, election: this.#name, operation: "get" };
    boundedCall(
      {
        timeoutMs: this.#settings.operationTimeoutMs,
        clock: this.#clock,
        context,
        closing: this.#abort.signal,
      },
      (signal) => this.#store.get(this.#name, { signal }),
    ).then(
      (snapshot) => {
        this.#reading = false;
        if (this.#done) return;
        this.#sample(snapshot, sentAtMs);
        this.#afterRead();
      },
      (error: unknown) => {
        this.#reading = false;
        if (this.#done) return;
        this.#report("get", error);
        this.#afterRead();
      },
    );
  }

  #afterRead(): void {
    if (this.#readAgain) {
      this.#readAgain = false;
      this.#read();
      return;
    }
    if (this.#done) return;
    // While the lock names a holder, read six times per validity window, watch or not: a version
    // counts as committed after the read before the one that showed it, so that read must be recent
    // or a live leader's renewals would look late. A leader renewing every P stays named without a
    // gap while P + 2 × (validity / 6) < validity, that is while P < 2/3 of the validity. Otherwise
    // a watch store is read when it pushes a change, and a polling one every poll interval.
    const snapshot = this.#current?.snapshot ?? null;
    const named = (snapshot?.record?.holderIdentity ?? "") !== "";
    const validity = named ? this.#validityMs(snapshot) : null;
    if (validity === null && this.#settings.watch) return;
    const delayMs =
      validity === null
        ? this.#settings.pollIntervalMs
        : Math.min(this.#settings.pollIntervalMs, validity / 6);
    this.#cancelPoll = this.#clock.setTimer(delayMs, () => {
      this.#cancelPoll = undefined;
      this.#read();
    });
  }

  /** Watches for changes; each one triggers a read, whose send time bounds the versions after it. */
  async #watchLoop(): Promise<void> {
    const signal = this.#abort.signal;
    const watch = this.#store.watch?.bind(this.#store);
    if (watch === undefined) return;
    while (!signal.aborted) {
      try {
        // The first item is the state when the watch began: read then too, so a change between the
        // first read (or a broken watch) and this watch is not missed.
        for await (const _snapshot of watch(this.#name, signal)) {
          if (signal.aborted) break;
          this.#read();
        }
      } catch (error) {
        if (signal.aborted) break;
        this.#report("watch", error);
      }
      if (signal.aborted) break;
      await this.#sleep(this.#settings.pollIntervalMs);
      this.#read();
    }
  }

  #sleep(delayMs: number): Promise<void> {
    const signal = this.#abort.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const onAbort = (): void => {
        cancel();
        resolve();
      };
      const cancel = this.#clock.setTimer(delayMs, () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      });
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  #validityMs(snapshot: Snapshot | null): number | null {
    const record = snapshot?.record;
    if (record === null || record === undefined) return null;
    const leaseMs = record.leaseDurationSeconds * 1000;
    return Math.min(this.#settings.validityOption ?? leaseMs / 4, leaseMs);
  }

  #sample(snapshot: Snapshot | null, sentAtMs: number): void {
    const version = snapshot === null || snapshot.deleted === true ? null : snapshot.version;
    const previous = this.#current;
    const previousVersion =
      previous === undefined || previous.snapshot === null || previous.snapshot.deleted === true
        ? null
        : previous.snapshot.version;
    if (previous === undefined || version !== previousVersion) {
      // A version this observer had not seen: committed after the previous read was sent.
      this.#current = { snapshot, committedAfterMs: previous === undefined ? null : this.#lastReadSentAtMs };
    }
    this.#lastReadSentAtMs = sentAtMs;
    this.#evaluate(previous === undefined ? "initial" : version !== previousVersion ? "changed" : null);
  }

  /** Recomputes the answer now; yields it when it differs from the last one yielded. */
  #evaluate(trigger: "initial" | "changed" | "timer" | null): void {
    const current = this.#current;
    if (current === undefined || this.#done) return;
    const nowMs = this.#clock.now();
    const snapshot = current.snapshot;
    const record = snapshot?.record ?? null;
    const version = snapshot === null || snapshot.deleted === true ? null : snapshot.version;
    const holder = record === null || record.holderIdentity === "" ? null : record.holderIdentity;
    const token = record === null ? null : record.leaderTransitions;
    const validity = this.#validityMs(snapshot);
    let validUntilMs: number | null = null;
    if (holder !== null && validity !== null && current.committedAfterMs !== null) {
      validUntilMs = current.committedAfterMs + validity;
    }
    const leader = validUntilMs !== null && nowMs < validUntilMs ? holder : null;
    if (leader === null) validUntilMs = null;
    const last = this.#last;
    const reason: LeaderObservation["reason"] =
      trigger === "initial"
        ? "initial"
        : snapshot === null || snapshot.deleted === true
          ? "absent"
          : record === null
            ? "corrupt"
            : holder === null
              ? "released"
              : leader === null && last?.leader === holder && last.version === version
                ? "lapsed"
                : last?.holder === holder && last.token === token && leader !== null && last.leader === leader
                  ? "renewed"
                  : "changed";
    const same =
      last !== undefined &&
      last.leader === leader &&
      last.holder === holder &&
      last.token === token &&
      last.validUntilMs === validUntilMs &&
      last.version === version;
    if (!same || trigger === "initial") {
      const observation: LeaderObservation = {
        type: "leader",
        leader,
        holder,
        token,
        validUntilMs,
        reason,
        version,
        atMs: nowMs,
      };
      this.#last = observation;
      this.#push(observation);
    }
    this.#cancelLapse?.();
    this.#cancelLapse = undefined;
    if (validUntilMs !== null) {
      this.#cancelLapse = this.#clock.setTimer(validUntilMs - nowMs, () => {
        this.#cancelLapse = undefined;
        this.#evaluate("timer");
      });
    }
  }
}
