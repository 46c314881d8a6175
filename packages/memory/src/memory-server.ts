import type {
  Clock,
  LeaderRecord,
  LockStore,
  OperationOptions,
  Snapshot,
  StoreCapabilities,
} from "@tenure/core";
import {
  assertValidElectionName,
  assertValidRecord,
  ClosedError,
  ConflictError,
  decodeRecord,
  encodeRecord,
  snapshotOf,
  systemClock,
  UnavailableError,
} from "@tenure/core";

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

/** A delay in milliseconds, fixed or drawn per message (seed the function for reproducible tests). */
export type Delay = number | (() => number);

export interface MemoryStoreOptions {
  /** Clock for delays and timeouts. Default the system clock; tests pass a manual one. */
  readonly clock?: Clock;
  /** Delay before a request reaches the server (it commits then). Default 0. */
  readonly requestDelayMs?: Delay;
  /** Delay before an answer, or a watch event, reaches this client. Default 0. */
  readonly responseDelayMs?: Delay;
  /** How long a call waits on an unreachable server in `"blackhole"` mode before UNAVAILABLE. Default 1000. */
  readonly timeoutMs?: number;
}

/** How an unreachable store fails: at once (connection refused) or after `timeoutMs` (packets dropped). */
export type Unreachability = "refuse" | "blackhole";

/**
 * A client of a {@link MemoryServer}, implementing the whole LockStore interface including watch.
 * Knobs for tests: per-message delays and `disconnect()` / `reconnect()`.
 */
export class MemoryStore implements LockStore {
  readonly backend = BACKEND;
  readonly capabilities: StoreCapabilities = { watch: true, leaseGranularityMs: 1 };
  readonly server: MemoryServer;
  readonly #clock: Clock;
  readonly #requestDelay: () => number;
  readonly #responseDelay: () => number;
  readonly #timeoutMs: number;
  readonly #watchBreakers = new Set<(error: Error) => void>();
  #unreachable: Unreachability | null = null;
  #closed = false;
  /** Answers are delivered in order: none before an earlier one (as over one TCP connection). */
  #lastDeliveryMs = Number.NEGATIVE_INFINITY;

  constructor(server: MemoryServer = new MemoryServer(), options: MemoryStoreOptions = {}) {
    this.server = server;
    this.#clock = options.clock ?? systemClock;
    this.#requestDelay = asDelay(options.requestDelayMs);
    this.#responseDelay = asDelay(options.responseDelayMs);
    this.#timeoutMs = options.timeoutMs ?? 1000;
  }

  /** Makes the server unreachable from this client: calls fail with UNAVAILABLE and open watches break. */
  disconnect(mode: Unreachability = "refuse"): void {
    this.#unreachable = mode;
    const error = this.#unavailable("watch", "connection lost");
    for (const breakWatch of [...this.#watchBreakers]) breakWatch(error);
  }

  /** Makes the server reachable again. */
  reconnect(): void {
    this.#unreachable = null;
  }

  /** Whether the server is reachable from this client. */
  get reachable(): boolean {
    return this.#unreachable === null;
  }

  get(name: string, options?: OperationOptions): Promise<Snapshot | null> {
    return this.#call("get", name, options, () => this.server.get(name));
  }

  async create(name: string, record: LeaderRecord, options?: OperationOptions): Promise<Snapshot> {
    this.#encode(name, record, "create");
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
    this.#encode(name, record, "update");
    return this.#call("update", name, options, () =>
      this.#orConflict(name, "update", this.server.update(name, record, expectedVersion)),
    );
  }

  async *watch(name: string, signal: AbortSignal): AsyncIterable<Snapshot | null> {
    assertValidElectionName(name, { backend: BACKEND });
    this.#assertOpen(name, "watch");
    if (this.#unreachable !== null) throw this.#unavailable("watch", "server unreachable", name);
    const queue: (Snapshot | null)[] = [];
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const push = (snapshot: Snapshot | null): void => {
      this.#deliver(() => {
        queue.push(snapshot);
        wake?.();
      });
    };
    const breakWatch = (error: Error): void => {
      failure = error;
      wake?.();
    };
    const onAbort = (): void => wake?.();
    push(this.server.get(name)); // the current state first, as the contract requires
    const unsubscribe = this.server.listen((change) => {
      if (change.name === name) push(change.snapshot);
    });
    this.#watchBreakers.add(breakWatch);
    signal.addEventListener("abort", onAbort);
    try {
      for (;;) {
        if (signal.aborted) return;
        if (failure !== undefined) throw failure;
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
      unsubscribe();
      this.#watchBreakers.delete(breakWatch);
      signal.removeEventListener("abort", onAbort);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const error = new ClosedError("store closed", { backend: BACKEND, operation: "watch" });
    for (const breakWatch of [...this.#watchBreakers]) breakWatch(error);
  }

  #encode(name: string, record: LeaderRecord, operation: string): string {
    assertValidElectionName(name, { backend: BACKEND });
    assertValidRecord(record, { backend: BACKEND, election: name });
    this.#assertOpen(name, operation);
    return encodeRecord(record);
  }

  #orConflict(name: string, operation: "create" | "update", outcome: Snapshot | "conflict"): Snapshot {
    if (outcome !== "conflict") return outcome;
    throw new ConflictError(operation === "create" ? "the lock already exists" : "the lock's version moved", {
      backend: BACKEND,
      election: name,
      operation,
    });
  }

  #assertOpen(name: string, operation: string): void {
    if (this.#closed) throw new ClosedError("store closed", { backend: BACKEND, election: name, operation });
  }

  /**
   * One round trip: the request travels, the server applies it, the answer travels back. A server
   * that becomes unreachable while the answer is on its way loses the answer but not the write, as a
   * real network can: the caller sees UNAVAILABLE for a call that may have succeeded.
   */
  #call<T>(
    operation: string,
    name: string,
    options: OperationOptions | undefined,
    apply: () => T,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      try {
        assertValidElectionName(name, { backend: BACKEND });
        this.#assertOpen(name, operation);
      } catch (error) {
        reject(error);
        return;
      }
      const signal = options?.signal;
      let done = false;
      const settle = (outcome: () => T): void => {
        if (done) return;
        done = true;
        signal?.removeEventListener("abort", onAbort);
        try {
          resolve(outcome());
        } catch (error) {
          reject(error);
        }
      };
      const onAbort = (): void => settle(() => this.#throwUnavailable(operation, "call aborted", name));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort);

      if (this.#unreachable === "blackhole") {
        this.#clock.setTimer(this.#timeoutMs, () =>
          settle(() => this.#throwUnavailable(operation, `no answer within ${this.#timeoutMs} ms`, name)),
        );
        return;
      }
      if (this.#unreachable === "refuse") {
        this.#after(this.#requestDelay(), () =>
          settle(() => this.#throwUnavailable(operation, "connection refused", name)),
        );
        return;
      }
      this.#after(this.#requestDelay(), () => {
        let outcome: () => T;
        try {
          const value = apply();
          outcome = () => value;
        } catch (error) {
          outcome = () => {
            throw error;
          };
        }
        this.#deliver(() => {
          if (this.#unreachable !== null) {
            settle(() =>
              this.#throwUnavailable(operation, "connection lost before the answer arrived", name),
            );
          } else {
            settle(outcome);
          }
        });
      });
    });
  }

  /** Delivers an answer or watch event after the response delay, never before an earlier one. */
  #deliver(callback: () => void): void {
    const atMs = Math.max(this.#clock.now() + this.#responseDelay(), this.#lastDeliveryMs);
    this.#lastDeliveryMs = atMs;
    this.#after(atMs - this.#clock.now(), callback);
  }

  #after(delayMs: number, callback: () => void): void {
    if (delayMs <= 0) queueMicrotask(callback);
    else this.#clock.setTimer(delayMs, callback);
  }

  #unavailable(operation: string, problem: string, election?: string): UnavailableError {
    return new UnavailableError(problem, {
      backend: BACKEND,
      operation,
      ...(election === undefined ? {} : { election }),
      remedy: "the memory store was disconnected by a test; call reconnect()",
    });
  }

  #throwUnavailable(operation: string, problem: string, election: string): never {
    throw this.#unavailable(operation, problem, election);
  }
}

function asDelay(delay: Delay | undefined): () => number {
  if (delay === undefined) return () => 0;
  if (typeof delay === "number") return () => delay;
  return delay;
}

/** A store on a fresh, private server: the quickest way to run an election inside one process. */
export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  return new MemoryServer().connect(options);
}
