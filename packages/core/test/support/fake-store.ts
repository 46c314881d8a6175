import type { LeaderRecord, LockStore, Snapshot, StoreCapabilities } from "../../src/index.js";
import { ConflictError, PermissionDeniedError, UnavailableError } from "../../src/index.js";

/**
 * A small in-test store for the engine's own tests (the memory package is the real in-process
 * store; the engine's tests must not depend on it). One instance plays the server: several electors
 * may share it. Knobs model the edges the engine must survive: calls that never answer, writes held
 * until the test lets them through, reads that lag writes, deletions with or without a tombstone,
 * and a watch that breaks at once.
 */
export class FakeStore implements LockStore {
  readonly backend = "fake";
  readonly capabilities: StoreCapabilities;
  /** Every call hangs (never answers) while true. */
  hang = false;
  /** While set, `get` answers this instead of the current state (a read that lags the writes). */
  staleRead: Snapshot | null | undefined = undefined;
  /** While true, each watch throws as soon as it starts (a stream that breaks at once). */
  breakWatches = false;
  /** Every create and update is refused with PERMISSION_DENIED (a missing RBAC rule); reads work. */
  refuseWrites = false;
  /** Raises the token of every create to at least this (a server counter; see LockStore.create). */
  createTokenFloor = 0;
  /**
   * Whether a read of a deleted lock reports a tombstone (a counter that outlives the lock); such a
   * store refuses a create while the tombstone stands and takes an update on its version instead.
   */
  tombstones = false;
  writes = 0;
  reads = 0;
  conflicts = 0;
  /** The signals of every watch started, to check what the engine leaves attached to them. */
  readonly watchSignals: AbortSignal[] = [];
  #snapshot: Snapshot | null = null;
  #version = 0;
  #everExisted = false;
  readonly #heldWrites: (() => void)[] = [];
  #holdWrites = false;
  readonly #watchers = new Set<(snapshot: Snapshot | null) => void>();
  /** After this many calls every call hangs: a guard that turns a spinning loop into a failed assertion. */
  readonly #callLimit: number;
  #calls = 0;

  constructor(options: { watch?: boolean; callLimit?: number } = {}) {
    this.capabilities = { watch: options.watch ?? false, leaseGranularityMs: 1 };
    this.#callLimit = options.callLimit ?? Number.POSITIVE_INFINITY;
    if (options.watch !== true) (this as { watch?: unknown }).watch = undefined;
  }

  async get(): Promise<Snapshot | null> {
    this.reads++;
    const answer = this.staleRead !== undefined ? this.staleRead : this.#read();
    return this.#answer(() => answer);
  }

  async create(_name: string, record: LeaderRecord): Promise<Snapshot> {
    await this.#gate();
    if (this.refuseWrites) return this.#answer(() => Promise.reject(new PermissionDeniedError("no create")));
    if (this.#snapshot !== null || this.#read()?.deleted === true) {
      this.conflicts++;
      return this.#answer(() => Promise.reject(new ConflictError("exists")));
    }
    const token = Math.max(record.leaderTransitions, this.createTokenFloor);
    return this.#answer(() => this.#write({ ...record, leaderTransitions: token }));
  }

  async update(_name: string, record: LeaderRecord, expectedVersion: string): Promise<Snapshot> {
    await this.#gate();
    if (this.refuseWrites) return this.#answer(() => Promise.reject(new PermissionDeniedError("no update")));
    const tombstone = this.#read();
    if (tombstone?.deleted === true && tombstone.version === expectedVersion) {
      const token = Math.max(record.leaderTransitions, this.createTokenFloor);
      return this.#answer(() => this.#write({ ...record, leaderTransitions: token }));
    }
    if (this.#snapshot?.version !== expectedVersion) {
      this.conflicts++;
      return this.#answer(() => Promise.reject(new ConflictError("moved")));
    }
    return this.#answer(() => this.#write(record));
  }

  async *watch(_name: string, signal: AbortSignal): AsyncIterable<Snapshot | null> {
    this.watchSignals.push(signal);
    if (this.breakWatches) throw new UnavailableError("the watch broke");
    const queue: (Snapshot | null)[] = [this.#read()];
    let wake: (() => void) | undefined;
    const push = (snapshot: Snapshot | null): void => {
      queue.push(snapshot);
      wake?.();
    };
    const onAbort = (): void => wake?.();
    this.#watchers.add(push);
    signal.addEventListener("abort", onAbort);
    try {
      while (!signal.aborted) {
        const next = queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      this.#watchers.delete(push);
      signal.removeEventListener("abort", onAbort);
    }
  }

  async close(): Promise<void> {}

  /** The stored state (ignores `staleRead`). */
  current(): Snapshot | null {
    return this.#snapshot;
  }

  /** Writes a record directly, as another candidate (or an operator) would. */
  put(record: LeaderRecord): Snapshot {
    return this.#write(record);
  }

  /** Deletes the lock, as an operator would (`kubectl delete lease`). Watchers see `null`. */
  delete(): void {
    this.#snapshot = null;
    this.#version++;
    for (const watcher of [...this.#watchers]) watcher(null);
  }

  /** Holds every later write until {@link releaseWrites}. */
  holdWrites(): void {
    this.#holdWrites = true;
  }

  /** Lets held writes (and later ones) through. */
  releaseWrites(): void {
    this.#holdWrites = false;
    for (const release of this.#heldWrites.splice(0)) release();
  }

  #read(): Snapshot | null {
    if (this.#snapshot !== null) return this.#snapshot;
    return this.tombstones && this.#everExisted
      ? { version: `deleted-${this.#version}`, record: null, deleted: true }
      : null;
  }

  #write(record: LeaderRecord): Snapshot {
    this.writes++;
    this.#everExisted = true;
    this.#snapshot = { version: String(++this.#version), record };
    for (const watcher of [...this.#watchers]) watcher(this.#snapshot);
    return this.#snapshot;
  }

  #gate(): Promise<void> {
    if (!this.#holdWrites) return Promise.resolve();
    return new Promise((resolve) => this.#heldWrites.push(resolve));
  }

  /** Runs `outcome` (the call's effect on the server) unless the store hangs. */
  #answer<T>(outcome: () => T | Promise<T>): Promise<T> {
    this.#calls++;
    if (this.hang || this.#calls > this.#callLimit) return new Promise(() => {});
    return Promise.resolve(outcome());
  }
}
