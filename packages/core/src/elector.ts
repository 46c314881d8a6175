import type { Clock } from "./clock.js";
import { systemClock } from "./clock.js";
import type { ElectionTiming } from "./config.js";
import { assertValidElectionName, assertValidIdentity, assertValidTiming, DEFAULT_TIMING } from "./config.js";
import { ClosedError, InvalidArgumentError, TenureError, toTenureError, UnavailableError } from "./errors.js";
import type { ElectorEvent } from "./events.js";
import { EventHub } from "./events.js";
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
import { initialState, isLeading, step } from "./machine.js";
import type { LockStore } from "./store.js";

/** Handed to `onStartedLeading`: what a leader needs to act safely. */
export interface Leadership {
  /** Aborted the moment this term ends (before any follower can take over); stop work when it fires. */
  readonly signal: AbortSignal;
  /** Strictly increasing per election: pass it to downstream systems so they can refuse stale leaders. */
  readonly fencingToken: number;
}

export interface ElectorOptions extends Partial<ElectionTiming> {
  /** The store to run on (an adapter's store, or `@tenure/memory`). */
  readonly store: LockStore;
  /** The election (lock) name: a DNS-1123 subdomain, the same on every backend. */
  readonly name: string;
  /** This candidate's identity, unique among candidates (a pod name, a hostname plus pid). */
  readonly identity: string;
  /** Write an empty holder on `stop()` so the next leader takes over at once. Default true. */
  readonly releaseOnStop?: boolean;
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
}

/** What `Elector.status()` reports. */
export interface ElectorStatus {
  /** `leader` only while it may act; `releasing` while stop() writes the release. */
  readonly role: "follower" | "leader" | "releasing" | "stopped";
  /** The holder last seen in the store, or `null`. */
  readonly leader: string | null;
  /** The current term's token while leading. */
  readonly fencingToken: number | null;
  /** Whether the store has answered at least once, so `leader` reflects it. */
  readonly hasObserved: boolean;
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
  readonly #hub = new EventHub<ElectorEvent>();
  readonly #queue: MachineEvent[] = [];
  /** The running watch, if any: followers watch, leaders do not (see #syncWatch). */
  #watch: AbortController | undefined;
  #state: MachineState = initialState;
  #dispatching = false;
  #cancelWake: (() => void) | undefined;
  #leadershipAbort: AbortController | undefined;
  #started = false;
  #stopped: Promise<void>;
  #resolveStopped: () => void = () => {};

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
    this.#logger = options.logger ?? silentLogger;
    this.#operationTimeoutMs = operationTimeoutMs;
    this.#config = {
      ...timing,
      identity: options.identity,
      watch: store.capabilities.watch && store.watch !== undefined,
    };
    this.#stopped = new Promise((resolve) => {
      this.#resolveStopped = resolve;
    });
  }

  /** Starts campaigning. Calling it twice does nothing more; after `stop()` it throws CLOSED. */
  start(): this {
    if (this.#state.role === "stopped") {
      throw new ClosedError("the elector was stopped; create a new one", this.#context());
    }
    if (this.#started) return this;
    this.#started = true;
    this.#logger.debug("elector starting", { ...this.#context(), identity: this.identity, ...this.timing });
    this.#dispatch({ type: "start" });
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
    return this.#stopped;
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
    const now = this.#clock.now();
    if (this.#state.role === "leader" && !isLeading(this.#state, now)) this.#dispatch({ type: "timer" });
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
      leader: this.#state.reportedLeader,
      fencingToken: leading ? (this.#state.term?.fencingToken ?? null) : null,
      hasObserved: this.#state.observed !== undefined,
    };
  }

  /** The holder last seen in the store (this candidate included), or `null` when none or unknown. */
  leader(): string | null {
    return this.#state.reportedLeader;
  }

  /** Calls `listener` synchronously on every event. Returns a function that unsubscribes. */
  subscribe(listener: (event: ElectorEvent) => void): () => void {
    return this.#hub.subscribe(listener);
  }

  /** Events from now on as an async iterator; it ends after the `stopped` event. */
  events(): AsyncIterableIterator<ElectorEvent> {
    return this.#hub.iterate();
  }

  #context(): { backend: string; election: string } {
    return { backend: this.#store.backend, election: this.name };
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
        for (const effect of result.effects) this.#perform(effect, now.monotonicMs);
        this.#scheduleWake(result.wakeAtMs, now.monotonicMs);
      }
    } finally {
      this.#dispatching = false;
    }
    this.#syncWatch();
  }

  /**
   * Followers watch the lock so that they see a release at once; a leader does not. Its own
   * renewals would only echo back (on Consul, as one blocking read per renewal), and nobody can
   * legitimately take over before its renew deadline has ended its term; if the lock was edited by
   * hand, the leader's next renewal fails its compare-and-swap within a retry period.
   */
  #syncWatch(): void {
    const wanted = this.#config.watch && this.#state.role === "follower";
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
    if (wakeAtMs === null) return;
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
      case "stopped":
        this.#finish(atMs);
        return;
    }
  }

  #startLeading(fencingToken: number, safeUntilMs: number, atMs: number): void {
    const abort = new AbortController();
    this.#leadershipAbort = abort;
    this.#logger.info("started leading", { ...this.#context(), identity: this.identity, fencingToken });
    this.#hub.emit({ type: "started-leading", atMs, fencingToken, safeUntilMs });
    this.#callback("onStartedLeading", () =>
      this.#options.onStartedLeading?.({ signal: abort.signal, fencingToken }),
    );
  }

  #stopLeading(reason: StepDownReason, fencingToken: number, atMs: number): void {
    // Abort first: work guarded by the signal must stop before anything else happens.
    this.#leadershipAbort?.abort(
      new TenureError("CLOSED", `leadership ended (${reason})`, { ...this.#context(), operation: "lead" }),
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

  #callback(name: string, run: () => unknown): void {
    try {
      const result = run();
      if (result instanceof Promise) {
        result.catch((error: unknown) =>
          this.#logger.error(`${name} callback rejected`, { ...this.#context(), error }),
        );
      }
    } catch (error) {
      this.#logger.error(`${name} callback threw`, { ...this.#context(), error });
    }
  }

  /** Performs one store call with a timeout; its outcome comes back as a `completed` event. */
  #call(effect: Extract<Effect, { type: "read" | "create" | "update" }>): void {
    const abort = new AbortController();
    let settled = false;
    const finish = (result: OperationResult): void => {
      if (settled) return;
      settled = true;
      cancelTimeout();
      this.#dispatch({ type: "completed", operationId: effect.operationId, result });
    };
    const cancelTimeout = this.#clock.setTimer(this.#operationTimeoutMs, () => {
      abort.abort();
      finish({
        kind: "failed",
        error: new UnavailableError(`no answer within ${this.#operationTimeoutMs} ms`, {
          ...this.#context(),
          operation: effect.type,
        }),
      });
    });
    const options = { signal: abort.signal };
    let call: Promise<unknown>;
    try {
      call =
        effect.type === "read"
          ? this.#store.get(this.name, options)
          : effect.type === "create"
            ? this.#store.create(this.name, effect.record, options)
            : this.#store.update(this.name, effect.record, effect.expectedVersion, options);
    } catch (error) {
      call = Promise.reject(error);
    }
    call.then(
      (snapshot) => finish({ kind: "ok", snapshot: snapshot as Awaited<ReturnType<LockStore["get"]>> }),
      (error: unknown) => {
        const tenureError = toTenureError(error, { ...this.#context(), operation: effect.type });
        finish(
          tenureError.code === "CONFLICT" ? { kind: "conflict" } : { kind: "failed", error: tenureError },
        );
      },
    );
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

  #sleep(delayMs: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const cancel = this.#clock.setTimer(delayMs, resolve);
      signal.addEventListener(
        "abort",
        () => {
          cancel();
          resolve();
        },
        { once: true },
      );
    });
  }

  #finish(atMs: number): void {
    this.#cancelWake?.();
    this.#cancelWake = undefined;
    this.#watch?.abort();
    this.#watch = undefined;
    this.#logger.debug("elector stopped", this.#context());
    this.#hub.emit({ type: "stopped", atMs });
    this.#hub.close();
    this.#resolveStopped();
  }
}
