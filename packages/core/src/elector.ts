import { boundedCall } from "./adapter/bounded-call.js";
import { Candidacy, checkPriorityOptions } from "./candidacy.js";
import type { Clock } from "./clock.js";
import { systemClock } from "./clock.js";
import type { ElectionTiming } from "./config.js";
import { assertValidElectionName, assertValidIdentity, assertValidTiming, DEFAULT_TIMING } from "./config.js";
import {
  ClosedError,
  InvalidArgumentError,
  NotLeaderError,
  type TenureError,
  toTenureError,
} from "./errors.js";
import type { ElectorEvent, IterateOptions } from "./events.js";
import { EventHub } from "./events.js";
import { handoverError } from "./handover.js";
import type { HealthPolicy, HealthPolicyOptions } from "./health-policy.js";
import { HealthMonitor, resolveHealthPolicy } from "./health-policy.js";
import type { Logger } from "./logger.js";
import { silentLogger } from "./logger.js";
import type {
  Effect,
  MachineConfig,
  MachineEvent,
  MachineState,
  OperationResult,
  StepDownReason,
} from "./machine.js";
import { currentLeader, initialState, isLeading, step } from "./machine.js";
import type { Snapshot } from "./record.js";
import type { LockStore } from "./store.js";

/**
 * Handed to `onStartedLeading`: one leadership term, and what a leader needs to act safely in it.
 *
 * `signal` tells work to stop; the checks tell whether work may start. The signal is aborted by a
 * timer at the deadline and by any check that finds the deadline passed. A timer cannot run while the
 * event loop is blocked, so after a stall (a long GC pause, CPU throttling, a slow synchronous call)
 * code resumed by I/O can find `signal.aborted === false` although the term is over. Before each
 * side effect, call `isValid()` (or `assertValid()`): it reads the monotonic clock, and if the
 * deadline has passed it ends the term on the spot, aborting the signal before it returns. Even then
 * a process can stall between the check and the effect; the fencing token is what protects
 * downstream systems from that, so pass it with every write.
 */
export interface Leadership {
  /** Aborted when this term ends (before any follower can take over); stop work when it fires. */
  readonly signal: AbortSignal;
  /** Strictly increasing per election: pass it to downstream systems so they can refuse stale leaders. */
  readonly fencingToken: number;
  /** True while this term may act, read from the monotonic clock now; false for good once it ended. */
  isValid(): boolean;
  /** Throws a NOT_LEADER TenureError unless this term may act now. */
  assertValid(): void;
  /** Milliseconds this term may still act for, from now (0 once it ended). Renewals extend it. */
  remainingMs(): number;
  /**
   * The monotonic time (the elector's clock: `performance.now()` by default) until which this term
   * may act as of now; each renewal moves it later. After the term ended, the time it ended.
   */
  validUntilMs(): number;
}

/** Who leads, as far as this candidate can tell at the moment it is asked. */
export interface CurrentLeader {
  /** The leader's identity, or `null` when no leader is known to be valid now. */
  readonly identity: string | null;
  /** Whether the leader is this candidate (and its term is valid now). */
  readonly self: boolean;
  /** Monotonic time (the elector's clock) until which this answer holds; `null` with no leader. */
  readonly validUntilMs: number | null;
  /** Milliseconds this answer holds from now (0 with no leader). */
  readonly remainingMs: number;
}

export interface ElectorOptions extends Partial<ElectionTiming> {
  /** The store to run on (an adapter's store, or `@tenure/memory`). */
  readonly store: LockStore;
  /** The election (lock) name: a DNS-1123 subdomain, the same on every backend. */
  readonly name: string;
  /** This candidate's identity, unique among candidates (a pod name, a hostname plus pid). */
  readonly identity: string;
  /**
   * A coordinator picks the holder (Kubernetes Coordinated Leader Election, with a `LeaseCandidate`
   * from `@tenure/kubernetes` published for this identity): this candidate never creates or takes
   * over the lock itself; it starts a term when the store names it as holder, with a
   * compare-and-swap on that version and a new fencing token. Default false.
   */
  readonly coordinated?: boolean;
  /**
   * While leading, watch the lock (where the store can) and, when the store asks for another holder
   * (`Snapshot.preferredHolder`, a Lease's `spec.preferredHolder`), step down and release at once, as
   * `resign()` does (the step-down reason is `"yielded"`). Without `coordinated` this candidate then
   * stays out for one lease. Default: the value of `coordinated`.
   */
  readonly yieldToPreferredHolder?: boolean;
  /** Write an empty holder on `stop()` so the next leader takes over at once. Default true. */
  readonly releaseOnStop?: boolean;
  /**
   * Bounds the elector's life: when it aborts, the elector stops (releasing per `releaseOnStop`), as
   * if `stop()` were called. Already aborted: `start()` does nothing and the elector is stopped.
   */
  readonly signal?: AbortSignal;
  /** Time limit for one store call. Default renewDeadlineMs / 2. */
  readonly operationTimeoutMs?: number;
  /** Clocks and timers. Default the process's (`systemClock`). */
  readonly clock?: Clock;
  /** Where diagnostics go. Default: nowhere. */
  readonly logger?: Logger;
  /** Called when this candidate becomes leader. A rejected promise is logged, not retried. */
  readonly onStartedLeading?: (leadership: Leadership) => void | Promise<void>;
  /** Called when this candidate stops leading, after the leadership signal was aborted. */
  readonly onStoppedLeading?: (info: {
    readonly reason: StepDownReason;
    readonly fencingToken: number;
  }) => void;
  /** Called when another candidate (or this one) is seen to hold the lock. */
  readonly onNewLeader?: (identity: string) => void;
  /**
   * A health check (see health-policy.ts): after `failureThreshold` failures in a row a leader steps
   * down (`onUnhealthy`: release, or stop renewing) and the candidate does not campaign until
   * `successThreshold` passes in a row. With a check, a candidate campaigns only after its first pass.
   * Default: none.
   */
  readonly health?: HealthPolicyOptions;
  /**
   * Opt-in: this candidate's priority, a non-negative integer (higher is preferred). A candidate
   * with a priority advertises itself in the election's candidate record (`<name>.candidates`,
   * through the same store) while it does not lead, so that a leader's `handOver()` without a
   * successor picks the highest-priority running candidate, and `preemptAfterMs` can apply. Costs one
   * read per retry period per such candidate, and one write per third of a lease by the top one.
   * Default: none (not advertised; this candidate can still be named in `handOver(identity)`).
   */
  readonly priority?: number;
  /**
   * Opt-in, with `priority`: while leading, hand over to a candidate of higher priority once it has
   * been advertised without a break for this long (the stability delay, so that leadership does
   * not flap while candidates come and go). Checked every retry period. Default: never.
   */
  readonly preemptAfterMs?: number;
}

/** What `Elector.status()` reports. */
export interface ElectorStatus {
  /** `leader` only while it may act; `releasing` while stop() writes the release. */
  readonly role: "follower" | "leader" | "releasing" | "stopped";
  /** The leader as far as this candidate can tell now (see `currentLeader()`), or `null`. */
  readonly leader: string | null;
  /** The current term's token while leading. */
  readonly fencingToken: number | null;
  /** Whether the store has answered at least once, so `leader` reflects it. */
  readonly hasObserved: boolean;
  /**
   * The latest store failure not yet followed by a success of the same kind of call (a read, or a
   * write: a lost compare-and-swap counts as an answer), else `null`. A candidate whose reads work
   * but whose writes are refused keeps reporting the refusal. Readiness checks use its `code`:
   * PERMISSION_DENIED or INVALID_ARGUMENT mean a configuration that waiting will not fix.
   */
  readonly lastStoreError: TenureError | null;
}

export interface ResignOptions {
  /**
   * How long this candidate stays out after releasing, so another takes the lock. Default: one lease
   * duration. 0 lets it compete again at once (it may win again).
   */
  readonly holdOffMs?: number;
}

/** What `handOver()` resolves with: the term offered to the successor. */
export interface HandOverResult {
  /** The identity the lock now names. */
  readonly successor: string;
  /** The fencing token of the successor's term: higher than every token of this candidate's terms. */
  readonly fencingToken: number;
}

export interface WhenLeadingOptions {
  /** Stops waiting: the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

export interface StopOptions {
  /** Release the lock if leading. Default: the elector's `releaseOnStop` (true). */
  readonly release?: boolean;
}

/**
 * Runs one candidate in one election: drives the state machine (machine.ts), performs its store
 * calls one at a time with a timeout, owns its timers, and reports what happens through callbacks,
 * `subscribe` and `events()`.
 */
export class Elector {
  readonly name: string;
  readonly identity: string;
  readonly timing: ElectionTiming;

  readonly #store: LockStore;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #options: ElectorOptions;
  readonly #config: MachineConfig;
  readonly #operationTimeoutMs: number;
  readonly #hub = new EventHub<ElectorEvent>((error) => this.#observerFailed("listener", error));
  readonly #queue: MachineEvent[] = [];
  /** Set while an observer error is being reported, so a listener that throws on it cannot loop. */
  #reportingObserverError = false;
  #loggerFailureWarned = false;
  /** The latest unanswered failure of reads and of writes, with when it happened. */
  readonly #storeFailures: Record<"read" | "write", { error: TenureError; atMs: number } | null> = {
    read: null,
    write: null,
  };
  /** The term handed out by the last `started-leading`, until it ends. */
  #term: { readonly id: number; ended: boolean; endedAtMs: number } | undefined;
  #termCount = 0;
  /** The leadership of the current term, for `whenLeading()`. */
  #leadership: Leadership | undefined;
  /** Resolved when a release under way (after `resign()`) is over. */
  #resigned: (() => void)[] = [];
  /** `handOver()` calls waiting for their `handover-settled` effect, by request id. */
  readonly #handovers = new Map<
    number,
    { resolve: (result: HandOverResult) => void; reject: (error: TenureError) => void }
  >();
  #nextHandoverId = 1;
  /** This candidate's part in the candidate record, when it has a priority. */
  readonly #candidacy: Candidacy | undefined;
  /** Stops the elector when the `signal` option aborts. */
  readonly #onAbortSignal = (): void => void this.stop();
  /** The running watch, if any: followers watch, leaders do not (see #syncWatch). */
  #watch: AbortController | undefined;
  #state: MachineState = initialState;
  #dispatching = false;
  #cancelWake: (() => void) | undefined;
  #leadershipAbort: AbortController | undefined;
  #started = false;
  #stopped: Promise<void>;
  #resolveStopped: () => void = () => {};
  readonly #healthPolicy: HealthPolicy | undefined;
  #healthMonitor: HealthMonitor | undefined;
  /** Until when a `resign()` of the user holds this candidate off, so a health recovery keeps it. */
  #userHoldOffUntilMs = Number.NEGATIVE_INFINITY;

  /** Validates the options; throws InvalidArgumentError naming the field and the rule. Call `start()` to run. */
  constructor(options: ElectorOptions) {
    const store = options.store;
    if (typeof store !== "object" || store === null || typeof store.update !== "function") {
      throw new InvalidArgumentError("store", "must be a LockStore (get/create/update/close)");
    }
    const context = { backend: store.backend, election: String(options.name) };
    assertValidElectionName(options.name, context);
    assertValidIdentity(options.identity, context);
    const timing: ElectionTiming = {
      leaseDurationMs: options.leaseDurationMs ?? DEFAULT_TIMING.leaseDurationMs,
      renewDeadlineMs: options.renewDeadlineMs ?? DEFAULT_TIMING.renewDeadlineMs,
      retryPeriodMs: options.retryPeriodMs ?? DEFAULT_TIMING.retryPeriodMs,
    };
    assertValidTiming(timing, store.capabilities, context);
    const operationTimeoutMs = options.operationTimeoutMs ?? timing.renewDeadlineMs / 2;
    if (
      !Number.isFinite(operationTimeoutMs) ||
      operationTimeoutMs <= 0 ||
      operationTimeoutMs >= timing.renewDeadlineMs
    ) {
      throw new InvalidArgumentError(
        "operationTimeoutMs",
        `must be positive and less than renewDeadlineMs (${timing.renewDeadlineMs}), got ${operationTimeoutMs}`,
        context,
      );
    }
    this.name = options.name;
    this.identity = options.identity;
    this.timing = timing;
    this.#store = store;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#logger = this.#isolatedLogger(options.logger ?? silentLogger);
    this.#operationTimeoutMs = operationTimeoutMs;
    this.#config = {
      ...timing,
      identity: options.identity,
      watch: store.capabilities.watch && store.watch !== undefined,
      coordinated: options.coordinated === true,
      yieldToPreferredHolder: options.yieldToPreferredHolder ?? options.coordinated === true,
    };
    this.#healthPolicy =
      options.health === undefined
        ? undefined
        : resolveHealthPolicy(options.health, timing.retryPeriodMs, context);
    this.#stopped = new Promise((resolve) => {
      this.#resolveStopped = resolve;
    });
    this.#candidacy = this.#makeCandidacy(options, context);
  }

  /** The candidacy that advertises this candidate, when it has a priority (options checked). */
  #makeCandidacy(
    options: ElectorOptions,
    context: { backend: string; election: string },
  ): Candidacy | undefined {
    const priority = checkPriorityOptions(options, context);
    if (priority === undefined) return undefined;
    const { preemptAfterMs } = options;
    return new Candidacy({
      store: this.#store,
      election: this.name,
      identity: this.identity,
      priority,
      leaseDurationMs: this.timing.leaseDurationMs,
      retryPeriodMs: this.timing.retryPeriodMs,
      operationTimeoutMs: this.#operationTimeoutMs,
      preemptAfterMs,
      clock: this.#clock,
      logger: this.#logger,
      isLeading: () => this.isLeader(),
      leader: () => this.leader(),
      yieldTo: (identity) => {
        this.handOver(identity).catch((error: unknown) =>
          this.#logger.warn(`yielding to ${identity} failed`, { ...this.#context(), error }),
        );
      },
    });
  }

  /** Starts campaigning. Calling it twice does nothing more; after `stop()` it throws CLOSED. */
  start(): this {
    if (this.#state.role === "stopped") {
      throw new ClosedError("the elector was stopped; create a new one", this.#context());
    }
    if (this.#started) return this;
    const signal = this.#options.signal;
    if (signal?.aborted) {
      void this.stop();
      return this;
    }
    signal?.addEventListener("abort", this.#onAbortSignal, { once: true });
    this.#started = true;
    this.#logger.debug("elector starting", { ...this.#context(), identity: this.identity, ...this.timing });
    this.#dispatch({ type: "start" });
    this.#startHealthMonitor();
    this.#candidacy?.start();
    return this;
  }

  /**
   * Stops campaigning. When leading, the leadership signal is aborted first; then, unless
   * `release: false`, the lock is released so the next leader need not wait a lease. Resolves when
   * the elector has stopped (bounded by a few operation timeouts).
   */
  stop(options: StopOptions = {}): Promise<void> {
    const release = options.release ?? this.#options.releaseOnStop ?? true;
    if (!this.#started) {
      this.#started = true;
      this.#dispatch({ type: "stop", release: false });
    } else {
      this.#dispatch({ type: "stop", release });
    }
    // A candidate with a priority also clears its claim in the candidate record, when it releases.
    const withdrawn = release ? this.#candidacy?.withdraw() : undefined;
    return withdrawn === undefined ? this.#stopped : Promise.all([this.#stopped, withdrawn]).then(() => {});
  }

  /** `await using elector = new Elector(…).start()`: stops (and releases) when the scope ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * Steps down and stays a candidate: when leading, the leadership signal is aborted first, the lock
   * is released so another candidate takes over at once, and this candidate does not try to acquire
   * again for `holdOffMs` (default one lease). A follower just holds off. Resolves when the release
   * is over (written, or given up after a bounded number of tries).
   */
  resign(options: ResignOptions = {}): Promise<void> {
    const holdOffMs = options.holdOffMs ?? this.timing.leaseDurationMs;
    if (!Number.isFinite(holdOffMs) || holdOffMs < 0) {
      return Promise.reject(
        new InvalidArgumentError(
          "holdOffMs",
          `must be a non-negative number, got ${holdOffMs}`,
          this.#context(),
        ),
      );
    }
    if (!this.#started || this.#state.role === "stopped") {
      return Promise.reject(new ClosedError("the elector is not running", this.#context()));
    }
    this.#userHoldOffUntilMs = this.#clock.now() + holdOffMs;
    return new Promise((resolve) => {
      this.#resigned.push(resolve);
      this.#dispatch({ type: "resign", holdOffMs });
    });
  }

  /**
   * Hands leadership to `successor`, another candidate's identity, and stays a candidate. The
   * leadership signal is aborted first (a `stopped-leading` event with reason `"handed-over"`); then
   * one compare-and-swap on the held version writes a record naming the successor, with the next
   * fencing token and an empty `acquireTime` that marks the term as offered. Every other candidate
   * sees a valid lease held by the successor and waits it out, so none can win in between; the
   * successor, seeing the offer (at once where the store can watch, else at its next poll), takes
   * the term with its own compare-and-swap and starts leading only once that write succeeded. A
   * successor that is not running never takes it: the lease lapses after `leaseDurationMs` and a
   * normal election follows.
   *
   * Without `successor`, the successor is the highest-priority candidate that is running and not
   * leading, as the candidate record shows it (candidates created with `priority`); when none is
   * known, it rejects with INVALID_ARGUMENT (field `successor`) and nothing happens.
   *
   * Resolves once the offer is written. Rejects with INVALID_ARGUMENT when `successor` is empty,
   * malformed or this candidate's own identity (nothing happens), with NOT_LEADER when this candidate
   * does not lead (nothing happens), with CLOSED when the elector is not running, and with CONFLICT
   * or the store's error when the write did not land or could not be confirmed: this candidate has
   * stepped down in any case, and competes again as a follower.
   */
  handOver(successor?: string): Promise<HandOverResult> {
    if (successor === undefined) {
      const best = this.#candidacy?.best();
      if (best === undefined || best === null) {
        return Promise.reject(
          new InvalidArgumentError(
            "successor",
            this.#candidacy === undefined
              ? "is required unless this candidate has a `priority` (only candidates with one see the others)"
              : "was omitted, but no other candidate with a priority is known to be running now; name one",
            this.#context(),
          ),
        );
      }
      successor = best.identity;
    }
    try {
      assertValidIdentity(successor, this.#context());
    } catch (error) {
      const rule = error instanceof Error ? error.message : String(error);
      return Promise.reject(
        new InvalidArgumentError("successor", `must be a candidate's identity (${rule})`, this.#context()),
      );
    }
    if (successor === this.identity) {
      return Promise.reject(
        new InvalidArgumentError(
          "successor",
          `must be another candidate's identity, not this candidate's own ("${this.identity}")`,
          this.#context(),
        ),
      );
    }
    if (!this.#started || this.#state.role === "stopped") {
      return Promise.reject(new ClosedError("the elector is not running", this.#context()));
    }
    const requestId = this.#nextHandoverId++;
    return new Promise((resolve, reject) => {
      this.#handovers.set(requestId, { resolve, reject });
      this.#dispatch({ type: "hand-over", successor, requestId });
    });
  }

  /**
   * Resolves with the leadership when this candidate leads: at once if it does now, else when its next
   * term begins. Rejects with CLOSED when the elector stops first, or with the signal's reason.
   */
  whenLeading(options: WhenLeadingOptions = {}): Promise<Leadership> {
    const current = this.#leadership;
    if (current?.isValid()) return Promise.resolve(current);
    if (this.#state.role === "stopped") {
      return Promise.reject(new ClosedError("the elector was stopped", this.#context()));
    }
    return new Promise((resolve, reject) => {
      const signal = options.signal;
      const done = (): void => {
        unsubscribe();
        signal?.removeEventListener("abort", onAbort);
      };
      const onAbort = (): void => {
        done();
        reject(signal?.reason);
      };
      const unsubscribe = this.#hub.subscribe((event) => {
        if (event.type === "started-leading" && this.#leadership !== undefined) {
          done();
          resolve(this.#leadership);
        } else if (event.type === "stopped") {
          done();
          reject(new ClosedError("the elector stopped before it led", this.#context()));
        }
      });
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Resolves when the elector has stopped. */
  get stopped(): Promise<void> {
    return this.#stopped;
  }

  /**
   * True only while this candidate may act as leader, computed from the renew deadline on the
   * monotonic clock. If the deadline has passed unnoticed (a stalled event loop), the step-down
   * happens now, so the leadership signal is aborted before this returns false.
   */
  isLeader(): boolean {
    this.#catchUp();
    return isLeading(this.#state, this.#clock.now());
  }

  /** The fencing token of the current term, or `null` when not leading. */
  fencingToken(): number | null {
    return this.isLeader() ? (this.#state.term?.fencingToken ?? null) : null;
  }

  /** A point-in-time summary, for health and readiness checks. */
  status(): ElectorStatus {
    const leading = this.isLeader();
    return {
      role: leading ? "leader" : this.#state.role === "leader" ? "follower" : this.#state.role,
      leader: this.currentLeader().identity,
      fencingToken: leading ? (this.#state.term?.fencingToken ?? null) : null,
      hasObserved: this.#state.observed !== undefined,
      lastStoreError: this.#lastStoreError(),
    };
  }

  /**
   * Who leads as far as this candidate can tell now, computed from the monotonic clock when asked:
   * this candidate only while its term is valid; another holder only until the lease this candidate
   * observed for it runs out (it may have been replaced unseen after that); otherwise nobody. The
   * answer says how long it holds, so a program that acts on it can bound its work.
   */
  currentLeader(): CurrentLeader {
    this.#catchUp();
    const nowMs = this.#clock.now();
    const view = currentLeader(this.#config, this.#state, nowMs);
    return {
      identity: view.identity,
      self: view.identity !== null && view.identity === this.identity,
      validUntilMs: view.validUntilMs,
      remainingMs: view.validUntilMs === null ? 0 : Math.max(0, view.validUntilMs - nowMs),
    };
  }

  /** The leader as far as this candidate can tell now (`currentLeader().identity`), or `null`. */
  leader(): string | null {
    return this.currentLeader().identity;
  }

  /**
   * Calls `listener` synchronously on every event. Returns a function that unsubscribes. A listener
   * that throws is reported (an `observer-error` event and the logger) and never stops the election.
   */
  subscribe(listener: (event: ElectorEvent) => void): () => void {
    return this.#hub.subscribe(listener);
  }

  /**
   * Events from now on as an async iterator; it ends after the `stopped` event. It buffers at most
   * `maxBuffered` events (default 1000) for a consumer that falls behind, then rejects with OVERFLOW.
   */
  events(options: IterateOptions = {}): AsyncIterableIterator<ElectorEvent> {
    return this.#hub.iterate(options);
  }

  /**
   * Runs the health check, if there is one. The candidate stays out of the campaign with a hold-off
   * renewed after every check while it is not healthy (so a monitor that stopped could not hold it off
   * for ever), and a verdict of "unhealthy" makes a leader step down per `onUnhealthy`.
   */
  #startHealthMonitor(): void {
    const policy = this.#healthPolicy;
    if (policy === undefined || this.#state.role === "stopped") return;
    const holdOffMs = 2 * policy.intervalMs + policy.timeoutMs;
    const holdOff = (): void =>
      this.#dispatch({
        type: "resign",
        holdOffMs,
        release: policy.onUnhealthy === "release",
        reason: "unhealthy",
      });
    const monitor = new HealthMonitor(policy, this.#clock, {
      onFailure: (failure, consecutiveFailures) => {
        const detail =
          failure.kind === "threw"
            ? `threw: ${failure.error instanceof Error ? failure.error.message : String(failure.error)}`
            : failure.kind === "timeout"
              ? `timed out after ${failure.timeoutMs} ms`
              : failure.kind === "still-running"
                ? "the previous check is still running"
                : "reported unhealthy";
        this.#logger.warn(
          `health check failed (${consecutiveFailures} in a row): ${detail}`,
          this.#context(),
        );
        this.#hub.emit({
          type: "health-check-failed",
          atMs: this.#clock.now(),
          failure,
          consecutiveFailures,
        });
      },
      onVerdict: (healthy) => {
        const log = healthy ? this.#logger.info : this.#logger.warn;
        log.call(
          this.#logger,
          healthy ? "healthy: campaigning" : "unhealthy: not campaigning",
          this.#context(),
        );
        this.#hub.emit({ type: "health-changed", atMs: this.#clock.now(), healthy });
        if (!healthy) {
          holdOff();
        } else if (this.#state.role === "follower") {
          // Campaign again at once, unless the user's own resign() still holds this candidate off.
          const userHoldOffMs = Math.max(0, this.#userHoldOffUntilMs - this.#clock.now());
          this.#dispatch({ type: "resign", holdOffMs: userHoldOffMs });
        }
      },
      onChecked: () => {
        if (!monitor.healthy && this.#state.role !== "stopped") holdOff();
      },
    });
    this.#healthMonitor = monitor;
    holdOff(); // not yet checked: no campaign until the first check passes
    monitor.start();
  }

  #context(): { backend: string; election: string } {
    return { backend: this.#store.backend, election: this.name };
  }

  /**
   * Applies a deadline or an expiry that passed while no timer could run (a stalled event loop), so
   * that what is answered next is true now: a leader past its deadline steps down, aborting its
   * signal, before the answer is read.
   */
  #catchUp(): void {
    const nowMs = this.#clock.now();
    const view = currentLeader(this.#config, this.#state, nowMs);
    const leaderStale = this.#state.role === "leader" && !isLeading(this.#state, nowMs);
    if (leaderStale || view.identity !== this.#state.reportedLeader) this.#dispatch({ type: "timer" });
  }

  /** Feeds one event to the machine; events raised while dispatching (by callbacks) are queued, never nested. */
  #dispatch(event: MachineEvent): void {
    this.#queue.push(event);
    if (this.#dispatching) return;
    this.#dispatching = true;
    try {
      for (let next = this.#queue.shift(); next !== undefined; next = this.#queue.shift()) {
        const now = { monotonicMs: this.#clock.now(), wallTime: this.#clock.wallTime() };
        const result = step(this.#config, this.#state, next, now);
        this.#state = result.state;
        for (const effect of result.effects) {
          try {
            this.#perform(effect, now.monotonicMs);
          } catch (error) {
            // Every observer is already isolated; this is a bug of ours. Keep the election going.
            this.#logger.error(`internal error performing ${effect.type}`, { ...this.#context(), error });
          }
        }
        // Callbacks ran synchronously above and may have taken a while: time the next wake from
        // the clock as it reads now, or a slow callback would push the deadline's abort later.
        const afterMs = this.#clock.now();
        if (result.wakeAtMs !== null && afterMs >= result.wakeAtMs && this.#queue.length === 0) {
          this.#queue.push({ type: "timer" });
        }
        this.#scheduleWake(result.wakeAtMs, afterMs);
      }
    } finally {
      this.#dispatching = false;
    }
    this.#syncWatch();
    if (this.#resigned.length > 0 && this.#state.role !== "releasing") {
      for (const resolve of this.#resigned.splice(0)) resolve();
    }
  }

  /**
   * Followers watch the lock so that they see a release at once; a leader does not. Its own
   * renewals would only echo back (on Consul, as one blocking read per renewal), and nobody can
   * legitimately take over before its renew deadline has ended its term; if the lock was edited by
   * hand, the leader's next renewal fails its compare-and-swap within a retry period. The exception
   * is a leader asked to yield to a preferred holder: it watches so that it hands over at once
   * rather than at its next renewal.
   *
   * A candidate starts watching only once its first read is answered, and not while it is trying to
   * take the lock: most candidates that find the lock free become leaders at once, and a watch
   * opened just before would be torn down unused (at 10,000 elections starting together, 10,000
   * streams or connections). One whose attempt fails reads again, and then watches.
   */
  #syncWatch(): void {
    const { role, observed, pending } = this.#state;
    const following = role === "follower" && observed !== undefined && pending?.purpose !== "acquire";
    const wanted =
      this.#config.watch &&
      (following || (role === "leader" && this.#config.yieldToPreferredHolder === true));
    if (wanted && this.#watch === undefined) {
      const controller = new AbortController();
      this.#watch = controller;
      void this.#watchLoop(controller.signal);
    } else if (!wanted && this.#watch !== undefined) {
      this.#watch.abort();
      this.#watch = undefined;
    }
  }

  #scheduleWake(wakeAtMs: number | null, nowMs: number): void {
    this.#cancelWake?.();
    this.#cancelWake = undefined;
    if (wakeAtMs === null || this.#state.role === "stopped") return;
    this.#cancelWake = this.#clock.setTimer(wakeAtMs - nowMs, () => {
      this.#cancelWake = undefined;
      this.#dispatch({ type: "timer" });
    });
  }

  #perform(effect: Effect, atMs: number): void {
    switch (effect.type) {
      case "read":
      case "create":
      case "update":
        this.#call(effect);
        return;
      case "started-leading":
        this.#startLeading(effect.fencingToken, effect.safeUntilMs, atMs);
        return;
      case "stopped-leading":
        this.#stopLeading(effect.reason, effect.fencingToken, atMs);
        return;
      case "renewed":
        this.#logger.debug("renewed", { ...this.#context(), latencyMs: effect.latencyMs });
        this.#hub.emit({ ...effect, atMs });
        return;
      case "leader-changed":
        this.#logger.info(
          effect.leader === null ? "no leader" : `${effect.leader} is the leader`,
          this.#context(),
        );
        this.#hub.emit({ ...effect, atMs });
        if (effect.leader !== null)
          this.#callback("onNewLeader", () => this.#options.onNewLeader?.(effect.leader ?? ""));
        return;
      case "store-error":
        this.#logger.warn(`store ${effect.purpose} failed: ${effect.error.message}`, {
          ...this.#context(),
          code: effect.error.code,
        });
        this.#hub.emit({ ...effect, atMs });
        return;
      case "handover-settled":
        this.#settleHandover(effect);
        return;
      case "stopped":
        this.#finish(atMs);
        return;
    }
  }

  #settleHandover(effect: Extract<Effect, { type: "handover-settled" }>): void {
    const waiting = this.#handovers.get(effect.requestId);
    this.#handovers.delete(effect.requestId);
    const context = { ...this.#context(), operation: "handOver" };
    if (effect.outcome === "written" && effect.fencingToken !== null) {
      this.#logger.info(`handed over to ${effect.successor}`, {
        ...context,
        fencingToken: effect.fencingToken,
      });
      waiting?.resolve({ successor: effect.successor, fencingToken: effect.fencingToken });
      return;
    }
    const error = handoverError(effect, context);
    this.#logger.warn(`handover to ${effect.successor} did not happen: ${error.message}`, context);
    waiting?.reject(error);
  }

  #startLeading(fencingToken: number, safeUntilMs: number, atMs: number): void {
    const abort = new AbortController();
    this.#leadershipAbort = abort;
    const term = { id: ++this.#termCount, ended: false, endedAtMs: 0 };
    this.#term = term;
    const leadership = this.#makeLeadership(term, abort.signal, fencingToken);
    this.#leadership = leadership;
    this.#logger.info("started leading", { ...this.#context(), identity: this.identity, fencingToken });
    this.#hub.emit({ type: "started-leading", atMs, fencingToken, safeUntilMs });
    this.#callback("onStartedLeading", () => this.#options.onStartedLeading?.(leadership));
  }

  /** The computed view of one term that `onStartedLeading` receives. */
  #makeLeadership(
    term: { readonly id: number; ended: boolean; endedAtMs: number },
    signal: AbortSignal,
    fencingToken: number,
  ): Leadership {
    const validUntilMs = (): number => {
      this.#catchUp();
      if (term.ended || this.#term !== term) return term.endedAtMs;
      return this.#state.term?.safeUntilMs ?? term.endedAtMs;
    };
    const remainingMs = (): number => Math.max(0, validUntilMs() - this.#clock.now());
    const isValid = (): boolean => remainingMs() > 0;
    return {
      signal,
      fencingToken,
      isValid,
      remainingMs,
      validUntilMs,
      assertValid: () => {
        if (!isValid()) {
          throw new NotLeaderError(`the leadership term with fencing token ${fencingToken} has ended`, {
            ...this.#context(),
            operation: "lead",
          });
        }
      },
    };
  }

  #stopLeading(reason: StepDownReason, fencingToken: number, atMs: number): void {
    this.#leadership = undefined;
    if (this.#term !== undefined) {
      this.#term.ended = true;
      this.#term.endedAtMs = Math.min(atMs, this.#state.term?.safeUntilMs ?? atMs);
      this.#term = undefined;
    }
    // Abort first: work guarded by the signal must stop before anything else happens.
    this.#leadershipAbort?.abort(
      new NotLeaderError(`leadership ended (${reason})`, { ...this.#context(), operation: "lead" }),
    );
    this.#leadershipAbort = undefined;
    const log = reason === "stopped" ? this.#logger.info : this.#logger.warn;
    log.call(this.#logger, `stopped leading (${reason})`, {
      ...this.#context(),
      identity: this.identity,
      fencingToken,
    });
    this.#hub.emit({ type: "stopped-leading", atMs, reason, fencingToken });
    this.#callback("onStoppedLeading", () => this.#options.onStoppedLeading?.({ reason, fencingToken }));
  }

  #callback(name: "onStartedLeading" | "onStoppedLeading" | "onNewLeader", run: () => unknown): void {
    try {
      const result = run();
      if (result instanceof Promise) {
        result.catch((error: unknown) => this.#observerFailed(name, error));
      }
    } catch (error) {
      this.#observerFailed(name, error);
    }
  }

  /**
   * A user's observer (listener, logger, callback) threw: report it through the logger and an
   * `observer-error` event, and carry on. A listener that throws on that event is not told again.
   */
  #observerFailed(source: Extract<ElectorEvent, { type: "observer-error" }>["source"], error: unknown): void {
    if (this.#reportingObserverError) return;
    this.#reportingObserverError = true;
    try {
      if (source !== "logger") {
        this.#logger.error(`${source} threw; the election goes on`, { ...this.#context(), error });
      }
      this.#hub.emit({ type: "observer-error", atMs: this.#clock.now(), source, error });
    } finally {
      this.#reportingObserverError = false;
    }
  }

  /**
   * The user's logger, with each call isolated: a logger that throws cannot stop the election. Its
   * failure is reported once as a process warning (the logger itself cannot carry it) and as an
   * `observer-error` event each time.
   */
  #isolatedLogger(logger: Logger): Logger {
    const guard =
      (level: keyof Logger) =>
      (message: string, fields?: Parameters<Logger["info"]>[1]): void => {
        try {
          logger[level](message, fields);
        } catch (error) {
          if (!this.#loggerFailureWarned) {
            this.#loggerFailureWarned = true;
            process.emitWarning(
              `Tenure: the logger of election "${this.name}" threw (${error instanceof Error ? error.message : String(error)}); its lines are lost, the election goes on`,
              { code: "TENURE_LOGGER_FAILED" },
            );
          }
          this.#observerFailed("logger", error);
        }
      };
    return { debug: guard("debug"), info: guard("info"), warn: guard("warn"), error: guard("error") };
  }

  /** Performs one store call with a timeout; its outcome comes back as a `completed` event. */
  #call(effect: Extract<Effect, { type: "read" | "create" | "update" }>): void {
    const kind = effect.type === "read" ? "read" : "write";
    const context = { ...this.#context(), operation: effect.type };
    // The kit's one rule: the earlier deadline wins. The store's own request timeout may be longer
    // than the operation timeout; the signal handed to it ends the call at the operation timeout.
    const call = boundedCall(
      { timeoutMs: this.#operationTimeoutMs, clock: this.#clock, context },
      (signal): Promise<Snapshot | null> =>
        effect.type === "read"
          ? this.#store.get(this.name, { signal })
          : effect.type === "create"
            ? this.#store.create(this.name, effect.record, { signal })
            : this.#store.update(this.name, effect.record, effect.expectedVersion, { signal }),
    );
    const finish = (result: OperationResult): void => {
      this.#dispatch({ type: "completed", operationId: effect.operationId, result });
    };
    call.then(
      (snapshot) => {
        this.#noteStoreOutcome(kind, null);
        finish({ kind: "ok", snapshot });
      },
      (error: unknown) => {
        const tenureError = toTenureError(error, context);
        const conflict = tenureError.code === "CONFLICT";
        this.#noteStoreOutcome(kind, conflict ? null : tenureError);
        finish(conflict ? { kind: "conflict" } : { kind: "failed", error: tenureError });
      },
    );
  }

  #noteStoreOutcome(kind: "read" | "write", error: TenureError | null): void {
    this.#storeFailures[kind] = error === null ? null : { error, atMs: this.#clock.now() };
  }

  #lastStoreError(): TenureError | null {
    const { read, write } = this.#storeFailures;
    if (read === null) return write?.error ?? null;
    if (write === null) return read.error;
    return read.atMs >= write.atMs ? read.error : write.error;
  }

  /** Follows the store's pushed changes for as long as the elector runs, re-watching after a break. */
  async #watchLoop(signal: AbortSignal): Promise<void> {
    const watch = this.#store.watch?.bind(this.#store);
    if (watch === undefined) return;
    while (!signal.aborted) {
      try {
        // Each watch starts with the current state, so nothing is missed between two streams.
        for await (const snapshot of watch(this.name, signal)) {
          if (signal.aborted) break;
          this.#dispatch({ type: "observed", snapshot });
        }
      } catch (error) {
        if (signal.aborted) break;
        const tenureError = toTenureError(error, { ...this.#context(), operation: "watch" });
        this.#logger.warn(`watch broke: ${tenureError.message}`, {
          ...this.#context(),
          code: tenureError.code,
        });
      }
      await this.#sleep(this.timing.retryPeriodMs, signal);
    }
  }

  /** Waits `delayMs`, or less if `signal` aborts; leaves nothing attached to the signal either way. */
  #sleep(delayMs: number, signal: AbortSignal): Promise<void> {
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

  #finish(atMs: number): void {
    this.#candidacy?.stop();
    this.#options.signal?.removeEventListener("abort", this.#onAbortSignal);
    this.#cancelWake?.();
    this.#cancelWake = undefined;
    this.#watch?.abort();
    this.#watch = undefined;
    this.#healthMonitor?.stop();
    this.#healthMonitor = undefined;
    for (const waiting of this.#handovers.values()) {
      waiting.reject(new ClosedError("the elector stopped before the handover was written", this.#context()));
    }
    this.#handovers.clear();
    this.#logger.debug("elector stopped", this.#context());
    this.#hub.emit({ type: "stopped", atMs });
    this.#hub.close();
    this.#resolveStopped();
  }
}
