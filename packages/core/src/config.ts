import { InvalidArgumentError } from "./errors.js";
import { assertValidElectionName, MAX_IDENTITY_LENGTH } from "./record.js";
import type { StoreCapabilities } from "./store.js";

/** The three timings of an election, with client-go's meaning. */
export interface ElectionTiming {
  /**
   * How long a follower waits, on its own monotonic clock, after it last saw the record change
   * before it may take the lock over. Default 15 000 (client-go's default).
   */
  readonly leaseDurationMs: number;
  /**
   * How long a leader keeps acting without a successful renewal, measured from when it sent its last
   * successful write; then it steps down. Must be less than leaseDurationMs. Default 10 000.
   */
  readonly renewDeadlineMs: number;
  /** How often the leader renews, and how long any participant waits after a failed call. Default 2 000. */
  readonly retryPeriodMs: number;
}

/** client-go's defaults (15 s lease, 10 s renew deadline, 2 s retry period). */
export const DEFAULT_TIMING: ElectionTiming = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

/** client-go's JitterFactor: the renew deadline must exceed the retry period by this factor. */
export const JITTER_FACTOR = 1.2;

/**
 * The largest relative clock-rate difference the timings tolerate: a leader whose clock runs slow by
 * up to ρ and a follower whose clock runs fast by up to ρ never overlap while
 * renewDeadline / (1 − ρ) < leaseDuration / (1 + ρ), i.e. ρ < (L − R) / (L + R). See docs/architecture.md.
 */
export function clockDriftTolerance(timing: ElectionTiming): number {
  return (
    (timing.leaseDurationMs - timing.renewDeadlineMs) / (timing.leaseDurationMs + timing.renewDeadlineMs)
  );
}

/**
 * Checks the timing rules client-go enforces (leaseDuration > renewDeadline > 1.2 × retryPeriod,
 * all positive) and that the lease fits the store's granularity. Throws InvalidArgumentError naming
 * the field and the rule.
 */
export function assertValidTiming(
  timing: ElectionTiming,
  capabilities?: StoreCapabilities,
  context: { backend?: string; election?: string } = {},
): void {
  const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = timing;
  for (const [field, value] of Object.entries(timing)) {
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      throw new InvalidArgumentError(
        field,
        `must be a positive number of milliseconds, got ${String(value)}`,
        context,
      );
    }
  }
  if (!(leaseDurationMs > renewDeadlineMs)) {
    throw new InvalidArgumentError(
      "leaseDurationMs",
      `must be greater than renewDeadlineMs (${leaseDurationMs} <= ${renewDeadlineMs})`,
      context,
    );
  }
  if (!(renewDeadlineMs > JITTER_FACTOR * retryPeriodMs)) {
    throw new InvalidArgumentError(
      "renewDeadlineMs",
      `must be greater than ${JITTER_FACTOR} × retryPeriodMs (${renewDeadlineMs} <= ${JITTER_FACTOR} × ${retryPeriodMs})`,
      context,
    );
  }
  const granularity = capabilities?.leaseGranularityMs ?? 1;
  if (leaseDurationMs % granularity !== 0) {
    throw new InvalidArgumentError(
      "leaseDurationMs",
      `must be a multiple of ${granularity} ms on this store, which records lease durations in ${granularity === 1000 ? "whole seconds" : `steps of ${granularity} ms`} (got ${leaseDurationMs})`,
      context,
    );
  }
}

/** Checks a candidate identity: non-empty, printable, at most 1024 characters. */
export function assertValidIdentity(
  identity: unknown,
  context: { backend?: string; election?: string } = {},
): void {
  if (typeof identity !== "string" || identity.length === 0) {
    throw new InvalidArgumentError("identity", "must be a non-empty string", context);
  }
  if (identity.length > MAX_IDENTITY_LENGTH) {
    throw new InvalidArgumentError("identity", `must be at most ${MAX_IDENTITY_LENGTH} characters`, context);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(identity)) {
    throw new InvalidArgumentError("identity", "must not contain control characters", context);
  }
}

export { assertValidElectionName };
