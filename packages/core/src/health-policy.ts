import type { Clock } from "./clock.js";
import { InvalidArgumentError } from "./errors.js";

/**
 * What a health check answers. `true` or nothing (`undefined`): healthy. `false`: unhealthy. A check
 * that throws, rejects, or does not settle within its timeout also counts as a failure.
 */
export type HealthCheckResult = boolean | undefined;

/**
 * The health check of a candidate: is this process fit to lead? Probe what the leader's work needs
 * (a database, a queue, a disk). It receives a signal that aborts when the check times out or the
 * elector stops; a check that honours it never piles up work.
 */
export type HealthCheck = (signal: AbortSignal) => HealthCheckResult | Promise<HealthCheckResult>;

/** What an unhealthy leader does. */
export type UnhealthyAction =
  /**
   * Step down and release the lock: a healthy candidate takes over within a round trip (a watch
   * store) or a retry period (a polling one).
   */
  | "release"
  /**
   * Step down and stop renewing, without writing: the record keeps naming this candidate until its
   * lease lapses, so a takeover waits a lease duration, as after a crash. Use it when an unhealthy
   * process should not write to the store at all, or to damp a check that flaps.
   */
  | "stop-renewing";

/** The `health` option of an Elector: step down (and stay out) while a health check keeps failing. */
export interface HealthPolicyOptions {
  /** The check, sync or async; see {@link HealthCheck}. */
  readonly check: HealthCheck;
  /** How often the check runs, on the elector's clock, from `start()` on. Default: the retry period. */
  readonly intervalMs?: number;
  /**
   * How long one check may take before it counts as a failure (its signal is then aborted). At most
   * `intervalMs`. Default: half of `intervalMs`.
   */
  readonly timeoutMs?: number;
  /** Consecutive failures after which the candidate is unhealthy. A positive integer; default 3. */
  readonly failureThreshold?: number;
  /**
   * Consecutive successes after which an unhealthy candidate is healthy again and campaigns. A
   * positive integer; default 1.
   */
  readonly successThreshold?: number;
  /** What an unhealthy leader does: `"release"` (default) or `"stop-renewing"`. */
  readonly onUnhealthy?: UnhealthyAction;
}

/** {@link HealthPolicyOptions} with every default applied. */
export interface HealthPolicy {
  readonly check: HealthCheck;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly failureThreshold: number;
  readonly successThreshold: number;
  readonly onUnhealthy: UnhealthyAction;
}

/** Applies the defaults and checks the rules; throws InvalidArgumentError naming `health.<field>`. */
export function resolveHealthPolicy(
  options: HealthPolicyOptions,
  retryPeriodMs: number,
  context: { backend?: string; election?: string } = {},
): HealthPolicy {
  const fail = (field: string, rule: string): never => {
    throw new InvalidArgumentError(`health.${field}`, rule, context);
  };
  if (typeof options !== "object" || options === null) fail("", "must be an object with a `check` function");
  if (typeof options.check !== "function") fail("check", "must be a function");
  const intervalMs = options.intervalMs ?? retryPeriodMs;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    fail("intervalMs", `must be a positive number of milliseconds, got ${String(intervalMs)}`);
  }
  const timeoutMs = options.timeoutMs ?? intervalMs / 2;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > intervalMs) {
    fail("timeoutMs", `must be positive and at most intervalMs (${intervalMs}), got ${String(timeoutMs)}`);
  }
  const failureThreshold = options.failureThreshold ?? 3;
  if (!Number.isSafeInteger(failureThreshold) || failureThreshold < 1) {
    fail("failureThreshold", `must be a positive integer, got ${String(failureThreshold)}`);
  }
  const successThreshold = options.successThreshold ?? 1;
  if (!Number.isSafeInteger(successThreshold) || successThreshold < 1) {
    fail("successThreshold", `must be a positive integer, got ${String(successThreshold)}`);
  }
  const onUnhealthy = options.onUnhealthy ?? "release";
  if (onUnhealthy !== "release" && onUnhealthy !== "stop-renewing") {
    fail("onUnhealthy", `must be "release" or "stop-renewing", got ${String(onUnhealthy)}`);
  }
  return { check: options.check, intervalMs, timeoutMs, failureThreshold, successThreshold, onUnhealthy };
}

/** Why one check failed. */
export type HealthFailure =
  | { readonly kind: "unhealthy" }
  | { readonly kind: "threw"; readonly error: unknown }
  | { readonly kind: "timeout"; readonly timeoutMs: number }
  /** The previous check had not settled by the next interval (it ignores its signal): not run again. */
  | { readonly kind: "still-running" };

/** What the monitor tells its owner. */
export interface HealthMonitorListener {
  /** One check failed; `consecutiveFailures` counts this one. */
  onFailure(failure: HealthFailure, consecutiveFailures: number): void;
  /** The verdict changed: `healthy` false after the failure threshold, true after the success threshold. */
  onVerdict(healthy: boolean): void;
  /** A check finished, passed or failed (the elector renews a campaign hold-off on each). */
  onChecked(): void;
}

/**
 * Runs a health check on a clock and turns its results into a verdict with thresholds. It never
 * throws into its caller: a check that throws, rejects or hangs is a failure, and at most one check
 * runs at a time. Until the first check passes the candidate is not yet healthy (it does not campaign
 * on an unchecked process), without being reported unhealthy before the failure threshold.
 */
export class HealthMonitor {
  readonly #policy: HealthPolicy;
  readonly #clock: Clock;
  readonly #listener: HealthMonitorListener;
  /** "pending" until the first check passes or the failure threshold is reached. */
  #verdict: "pending" | "healthy" | "unhealthy" = "pending";
  #failures = 0;
  #successes = 0;
  #running: AbortController | undefined;
  #cancelTimer: (() => void) | undefined;
  #stopped = false;

  constructor(policy: HealthPolicy, clock: Clock, listener: HealthMonitorListener) {
    this.#policy = policy;
    this.#clock = clock;
    this.#listener = listener;
  }

  /** Whether the candidate may campaign now. */
  get healthy(): boolean {
    return this.#verdict === "healthy";
  }

  /** Failures in a row so far (0 after a pass). */
  get consecutiveFailures(): number {
    return this.#failures;
  }

  /** Runs the first check now, then one every interval. */
  start(): void {
    this.#tick();
  }

  /** No more checks; a check in flight is aborted and its result ignored. */
  stop(): void {
    this.#stopped = true;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#running?.abort();
    this.#running = undefined;
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#cancelTimer = this.#clock.setTimer(this.#policy.intervalMs, () => this.#tick());
    if (this.#running !== undefined) {
      this.#record({ kind: "still-running" });
      return;
    }
    this.#run();
  }

  #run(): void {
    const controller = new AbortController();
    this.#running = controller;
    let settled = false;
    const settle = (failure: HealthFailure | null): void => {
      if (settled || this.#stopped) return;
      settled = true;
      cancelTimeout();
      if (failure?.kind === "timeout") controller.abort(new Error("the health check timed out"));
      // A check that timed out stays "running" until it settles, so the next interval does not
      // start a second one beside it.
      if (failure?.kind !== "timeout" && this.#running === controller) this.#running = undefined;
      this.#record(failure);
    };
    const cancelTimeout = this.#clock.setTimer(this.#policy.timeoutMs, () =>
      settle({ kind: "timeout", timeoutMs: this.#policy.timeoutMs }),
    );
    const finished = (): void => {
      if (this.#running === controller) this.#running = undefined;
    };
    let result: HealthCheckResult | Promise<HealthCheckResult>;
    try {
      result = this.#policy.check(controller.signal);
    } catch (error) {
      settle({ kind: "threw", error });
      finished();
      return;
    }
    Promise.resolve(result).then(
      (value) => {
        settle(value === false ? { kind: "unhealthy" } : null);
        finished();
      },
      (error: unknown) => {
        settle({ kind: "threw", error });
        finished();
      },
    );
  }

  #record(failure: HealthFailure | null): void {
    if (this.#stopped) return;
    if (failure === null) {
      this.#failures = 0;
      this.#successes++;
      // The first pass of a process that was never judged unhealthy is enough to start campaigning.
      const threshold = this.#verdict === "pending" ? 1 : this.#policy.successThreshold;
      if (this.#verdict !== "healthy" && this.#successes >= threshold) {
        this.#verdict = "healthy";
        this.#listener.onVerdict(true);
      }
    } else {
      this.#successes = 0;
      this.#failures++;
      this.#listener.onFailure(failure, this.#failures);
      if (this.#verdict !== "unhealthy" && this.#failures >= this.#policy.failureThreshold) {
        this.#verdict = "unhealthy";
        this.#listener.onVerdict(false);
      }
    }
    this.#listener.onChecked();
  }
}
