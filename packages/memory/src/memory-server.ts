import type { LeaderRecord, LockStore, OperationOptions, Snapshot, StoreCapabilities } from "@tenure/core";
import { ConflictError } from "@tenure/core";
import {
  AsyncQueue,
  assertValidElectionName,
  assertValidRecord,
  boundedCall,
  decodeRecord,
  encodeRecord,
  StoreLifecycle,
  snapshotOf,
} from "@tenure/core/adapter";
import { linkError, type MemoryStoreOptions, SimulatedLink, type Unreachability } from "./network.js";

const BACKEND = "memory";

interface StoredLock {
  /** The stored value exactly as written, so that round-trips and corruption are both real. */
  readonly value: string;
  readonly version: number;
}

type Change = { readonly name: string; readonly snapshot: Snapshot | null };

/** Operation counts, for tests that check how much an election costs the store. */
export interface MemoryServerStats {
  reads: number;
  creates: number;
  updates: number;
  conflicts: number;
}

/**
 * An in-process lock server: the shared state that {@link MemoryStore} clients talk to, the way
 * several processes talk to one etcd. One server per election domain; one store per candidate.
 */
export class MemoryServer {
  readonly stats: MemoryServerStats = { reads: 0, creates: 0, updates: 0, conflicts: 0 };
  readonly #locks = new Map<string, StoredLock>();
  /** Locks deleted and not created again, with the version their deletion took: read as tombstones. */
  readonly #deleted = new Map<string, number>();
  readonly #listeners = new Set<(change: Change) => void>();
  /**
   * Versions come from one counter, so a deleted and re-created lock never reuses one (no ABA), and
   * a create raises its token to the version it writes, so tokens never repeat across a deletion
   * (see LockStore.create).
   */
  #lastVersion = 0;

  /** A new client of this server. */
  connect(options: MemoryStoreOptions = {}): MemoryStore {
    return new MemoryStore(this, options);
  }

  /** The stored value of a lock exactly as written, or `undefined`: the conformance suite's raw reader. */
  readRaw(name: string): string | undefined {
    return this.#locks.get(name)?.value;
  }

  /** Stores any value, valid or not, bypassing the CAS: for corrupt-record and tamper tests. */
  writeRaw(name: string, value: string): void {
    this.#commit(name, value);
  }

  /**
   * Deletes a lock, as an operator might by hand. Watchers see `null`; a later read sees a
   * tombstone, since this server, like a store whose counter outlives the lock, can tell.
   */
  delete(name: string): void {
    if (!this.#locks.delete(name)) return;
    this.#deleted.set(name, ++this.#lastVersion);
    this.#notify({ name, snapshot: null });
  }

  /** @internal Reads the current snapshot: the lock, a tombstone, or `null` if it never existed. */
  get(name: string): Snapshot | null {
    this.stats.reads++;
    const lock = this.#locks.get(name);
    if (lock !== undefined) return toSnapshot(lock);
    const deletedAt = this.#deleted.get(name);
    return deletedAt === undefined ? null : { version: `deleted-${deletedAt}`, record: null, deleted: true };
  }

  /**
   * @internal Creates the lock if it never existed (a tombstone refuses it too: see LockStore.update),
   * its token raised to at least the version it takes.
   */
  create(name: string, record: LeaderRecord): Snapshot | "conflict" {
    this.stats.creates++;
    if (this.#locks.has(name) || this.#deleted.has(name)) {
      this.stats.conflicts++;
      return "conflict";
    }
    return this.#commit(name, this.#withTokenFloor(record));
  }

  /** @internal Replaces the lock (or brings back a deleted one) if its version is `expectedVersion`. */
  update(name: string, record: LeaderRecord, expectedVersion: string): Snapshot | "conflict" {
    this.stats.updates++;
    const lock = this.#locks.get(name);
    if (lock === undefined) {
      const deletedAt = this.#deleted.get(name);
      if (deletedAt !== undefined && expectedVersion === `deleted-${deletedAt}`) {
        return this.#commit(name, this.#withTokenFloor(record));
      }
      this.stats.conflicts++;
      return "conflict";
    }
    if (String(lock.version) !== expectedVersion) {
      this.stats.conflicts++;
      return "conflict";
    }
    return this.#commit(name, encodeRecord(record));
  }

  /** The record's JSON with its token raised to the version the write will take. */
  #withTokenFloor(record: LeaderRecord): string {
    return encodeRecord({
      ...record,
      leaderTransitions: Math.max(record.leaderTransitions, this.#lastVersion + 1),
    });
  }

  /** @internal Calls `listener` with every committed change; returns the unsubscribe function. */
  listen(listener: (change: Change) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #commit(name: string, value: string): Snapshot {
    const lock = { value, version: ++this.#lastVersion };
    this.#locks.set(name, lock);
    this.#deleted.delete(name);
    const snapshot = toSnapshot(lock);
    this.#notify({ name, snapshot });
    return snapshot;
  }

  #notify(change: Change): void {
    for (const listener of [...this.#listeners]) listener(change);
  }
}

function toSnapshot(lock: StoredLock): Snapshot {
  return snapshotOf(String(lock.version), decodeRecord(lock.value));
}

/**
 * A client of a {@link MemoryServer}, implementing the whole LockStore interface including watch.
 * Knobs for tests: per-message delays and `disconnect()` / `reconnect()`.
 */
export class MemoryStore implements LockStore {
  readonly backend = BACKEND;
  readonly capabilities: StoreCapabilities = { watch: true, leaseGranularityMs: 1 };
  readonly server: MemoryServer;
  readonly #link: SimulatedLink;
  readonly #lifecycle = new StoreLifecycle(BACKEND);
  /** Open watches, broken by `disconnect()`. */
  readonly #watches = new Set<AsyncQueue<Snapshot | null>>();

  constructor(server: MemoryServer = new MemoryServer(), options: MemoryStoreOptions = {}) {
    this.server = server;
    this.#link = new SimulatedLink(options, { backend: BACKEND });
  }

  /** Makes the server unreachable from this client: calls fail with UNAVAILABLE and open watches break. */
  disconnect(mode: Unreachability = "refuse"): void {
    this.#link.unreachable = mode;
    const error = linkError("connection lost", { backend: BACKEND, operation: "watch" });
    for (const watch of [...this.#watches]) watch.fail(error);
  }

  /** Makes the server reachable again. */
  reconnect(): void {
    this.#link.unreachable = null;
  }

  /** Whether the server is reachable from this client. */
  get reachable(): boolean {
    return this.#link.unreachable === null;
  }

  get(name: string, options?: OperationOptions): Promise<Snapshot | null> {
    return this.#call("get", name, options, () => this.server.get(name));
  }

  async create(name: string, record: LeaderRecord, options?: OperationOptions): Promise<Snapshot> {
    assertValidElectionName(name, { backend: BACKEND });
    assertValidRecord(record, { backend: BACKEND, election: name });
    return this.#call("create", name, options, () =>
      this.#orConflict(name, "create", this.server.create(name, record)),
    );
  }

  async update(
    name: string,
    record: LeaderRecord,
    expectedVersion: string,
    options?: OperationOptions,
  ): Promise<Snapshot> {
    assertValidElectionName(name, { backend: BACKEND });
    assertValidRecord(record, { backend: BACKEND, election: name });
    return this.#call("update", name, options, () =>
      this.#orConflict(name, "update", this.server.update(name, record, expectedVersion)),
    );
  }

  async *watch(name: string, signal: AbortSignal): AsyncIterable<Snapshot | null> {
    assertValidElectionName(name, { backend: BACKEND });
    const context = { backend: BACKEND, election: name, operation: "watch" };
    this.#lifecycle.assertOpen(context);
    if (this.#link.unreachable !== null) throw linkError("server unreachable", context);
    const queue = new AsyncQueue<Snapshot | null>();
    const push = (snapshot: Snapshot | null): void => this.#link.deliver(() => queue.push(snapshot));
    // An abort ends the watch quietly: whatever was not consumed yet is dropped.
    const onAbort = (): void => void queue.return();
    const onClosing = (): void => queue.fail(this.#lifecycle.error(context));
    push(this.server.get(name)); // the current state first, as the contract requires
    const unsubscribe = this.server.listen((change) => {
      if (change.name === name) push(change.snapshot);
    });
    this.#watches.add(queue);
    signal.addEventListener("abort", onAbort);
    this.#lifecycle.signal.addEventListener("abort", onClosing);
    if (signal.aborted) onAbort();
    try {
      yield* queue;
    } finally {
      unsubscribe();
      this.#watches.delete(queue);
      signal.removeEventListener("abort", onAbort);
      this.#lifecycle.signal.removeEventListener("abort", onClosing);
    }
  }

  /** Ends open watches; every call after this rejects with CLOSED, and so do calls in flight. */
  async close(): Promise<void> {
    this.#lifecycle.close();
  }

  #orConflict(name: string, operation: "create" | "update", outcome: Snapshot | "conflict"): Snapshot {
    if (outcome !== "conflict") return outcome;
    throw new ConflictError(operation === "create" ? "the lock already exists" : "the lock's version moved", {
      backend: BACKEND,
      election: name,
      operation,
    });
  }

  /**
   * One call over the simulated link: rejected at once after close, given up when the caller's
   * signal aborts (UNAVAILABLE) or the store closes (CLOSED); the request is sent only if neither
   * ended it before.
   */
  #call<T>(
    operation: string,
    name: string,
    options: OperationOptions | undefined,
    apply: () => T,
  ): Promise<T> {
    const context = { backend: BACKEND, election: name, operation };
    try {
      assertValidElectionName(name, { backend: BACKEND });
      this.#lifecycle.assertOpen(context);
    } catch (error) {
      return Promise.reject(error);
    }
    // The simulated link bounds the call itself (its blackhole timeout runs on the store's clock,
    // often a virtual one), so the kit's call runs without a timer of its own.
    return boundedCall(
      {
        timeoutMs: Number.POSITIVE_INFINITY,
        clock: this.#link.clock,
        signal: options?.signal,
        closing: this.#lifecycle.signal,
        context,
      },
      () =>
        new Promise<T>((answer, fail) => {
          this.#link.roundTrip(apply, context, answer, fail);
        }),
    );
  }
}

/** A store on a fresh, private server: the quickest way to run an election inside one process. */
export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  return new MemoryServer().connect(options);
}
