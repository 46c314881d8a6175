import type { ElectionTiming, LeaderRecord, LockStore, StoreCapabilities } from "@tenure/core";

/** What the raw reader found, decoded by the backend's own client independently of the adapter. */
export type RawLock = { readonly record: LeaderRecord } | { readonly corruption: string };

/** Makes one client's store unreachable and reachable again (a proxy cut, a disconnect switch). */
export interface FaultHook {
  /** After this resolves, every call through `store` fails with UNAVAILABLE within a bounded time. */
  isolate(store: LockStore): Promise<void>;
  /** After this resolves, `store` works again. */
  heal(store: LockStore): Promise<void>;
}

/**
 * Everything the suite needs to test one adapter against its real server. An adapter's test file
 * builds one of these and calls `describeConformance(target)`.
 */
export interface ConformanceTarget {
  /** Name shown in test titles, for example `"redis"` or `"kubernetes/lease"`. */
  readonly name: string;
  /** The capabilities the adapter must declare; the suite checks the store declares exactly these. */
  readonly capabilities: StoreCapabilities;
  /** A new client of the server under test. Each candidate gets its own; the suite closes them all. */
  createStore(): LockStore | Promise<LockStore>;
  /** Reads a lock with the backend's own client, bypassing the adapter. `null` when it does not exist. */
  readRaw(election: string): Promise<RawLock | null>;
  /** Deletes a lock with the backend's own client, as an operator would (`kubectl delete`, `etcdctl del`). */
  deleteRaw(election: string): Promise<void>;
  /** Stores a value the adapter cannot decode, bypassing it. When absent, corrupt-record cases are not run. */
  writeCorrupt?(election: string): Promise<void>;
  /** Cuts one client off from the server and restores it. */
  readonly faults: FaultHook;
  /** Election timings for the election contract. Default: see {@link defaultTiming}. */
  readonly timing?: ElectionTiming;
  /**
   * The store's watch may skip intermediate states that commit in quick succession, reporting only
   * the latest (Consul's blocking queries do). The engine only needs the latest state, in order, so
   * this is allowed; the suite then checks an in-order subsequence that ends with the last write
   * instead of every change. Default false.
   */
  readonly watchMayCoalesce?: boolean;
  /** How long an unreachable store may take to fail with UNAVAILABLE. Default 5 000 ms. */
  readonly unavailableWithinMs?: number;
  /** Rounds of the many-rounds safety case. Default 8. */
  readonly rounds?: number;
  /** Prefix for election names, so parallel suites on one server never collide. Default `"conformance"`. */
  readonly namePrefix?: string;
}

/**
 * Short timings that respect the store's granularity: whole seconds need a 2 s lease; stores with
 * millisecond leases run faster.
 */
export function defaultTiming(capabilities: StoreCapabilities): ElectionTiming {
  if (capabilities.leaseGranularityMs >= 1000) {
    const leaseDurationMs =
      Math.ceil(2000 / capabilities.leaseGranularityMs) * capabilities.leaseGranularityMs;
    return { leaseDurationMs, renewDeadlineMs: leaseDurationMs * 0.7, retryPeriodMs: leaseDurationMs * 0.15 };
  }
  return { leaseDurationMs: 800, renewDeadlineMs: 560, retryPeriodMs: 120 };
}
