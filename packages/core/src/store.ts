import type { LeaderRecord, Snapshot } from "./record.js";

/** What a store can do beyond the required operations. Declared by the adapter, never guessed. */
export interface StoreCapabilities {
  /** The store pushes changes of one lock (`watch` is implemented), so followers need not poll. */
  readonly watch: boolean;
  /**
   * The smallest lease-duration step the stored record can carry, in milliseconds: 1000 when the
   * format holds whole seconds (Kubernetes), 1 when any millisecond value round-trips.
   */
  readonly leaseGranularityMs: number;
}

/** Per-call options every store operation accepts. */
export interface OperationOptions {
  /** Aborts the call; the store then rejects promptly with an UNAVAILABLE error. */
  readonly signal?: AbortSignal;
}

/**
 * The compare-and-swap store an election runs on: one record per election name, each write
 * conditional on the version the writer last saw. Implementations must reject with TenureErrors
 * (see errors.ts) and must never hang: an unreachable store rejects with `UNAVAILABLE` within a
 * bounded time even when no signal is passed.
 */
export interface LockStore {
  /** Short backend name used in messages and metrics, for example `"etcd"`. */
  readonly backend: string;
  /** What this store supports; the engine adapts to it. */
  readonly capabilities: StoreCapabilities;

  /**
   * Reads the lock. Resolves `null` when it does not exist, or a tombstone (`deleted: true`) when it
   * does not exist but the store can tell it once did; a record that cannot be decoded comes back as a
   * corrupt snapshot.
   */
  get(name: string, options?: OperationOptions): Promise<Snapshot | null>;

  /**
   * Creates the lock. Rejects with `CONFLICT` when it already exists.
   *
   * Fencing tokens across deletions: a store whose server keeps a counter that never goes back
   * (etcd's revision, Consul's index, Kubernetes' resourceVersion, a per-lock counter that outlives
   * the lock) raises `record.leaderTransitions` to at least one more than a value of that counter read
   * before this write, which is at least every version the lock ever had. Every term's token is at
   * most the version of the write that started it, so a lock deleted and created again never repeats
   * a token. The token is never lowered; the resolved snapshot carries the record as stored.
   */
  create(name: string, record: LeaderRecord, options?: OperationOptions): Promise<Snapshot>;

  /**
   * Replaces the lock only if its version is still `expectedVersion`. Rejects with `CONFLICT` when
   * the version moved or the lock no longer exists. Resolves with the new snapshot.
   *
   * A store that reports tombstones also takes a tombstone's version here: the write then brings the
   * deleted lock back, raising the token as `create` does. Such a store refuses `create` while a
   * tombstone stands, so a candidate that last saw the lock absent before it was ever created cannot
   * slip a create in after a deletion it never saw.
   */
  update(
    name: string,
    record: LeaderRecord,
    expectedVersion: string,
    options?: OperationOptions,
  ): Promise<Snapshot>;

  /**
   * Optional (declare `capabilities.watch`): yields the current snapshot first (`null` or a tombstone
   * when the lock does not exist), then the snapshot after each committed change, in commit order, so that no change
   * falls between two watches. A store whose feed reports only the latest state (Consul's blocking
   * queries) may skip intermediate states, but never an old state after a newer one and never the
   * latest: a follower then restarts its wait later than it could have, which is safe. The iterator
   * ends when `signal` aborts and throws (UNAVAILABLE) when the stream breaks; the engine then
   * watches again after a retry period.
   */
  watch?(name: string, signal: AbortSignal): AsyncIterable<Snapshot | null>;

  /** Releases connections this store opened. Clients passed in by the user are left open. */
  close(): Promise<void>;
}
