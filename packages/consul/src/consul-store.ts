import type { Agent as HttpAgent } from "node:http";
import type { Agent as HttpsAgent } from "node:https";
import type { LeaderRecord, LockStore, OperationOptions, Snapshot, StoreCapabilities } from "@tenure/core";
import { ConflictError, TenureError } from "@tenure/core";
import {
  assertValidElectionName,
  assertValidRecord,
  boundedCall,
  decodeRecord,
  encodeRecord,
  StoreLifecycle,
  snapshotOf,
} from "@tenure/core/adapter";
import { BACKEND, mapFailure } from "./errors.js";
import { type ConsulLockStoreOptions, settingsOf } from "./options.js";
import type { ConsulTransport, KvEntry } from "./transport.js";
import { watchKey } from "./watch.js";

/**
 * A Tenure lock store on Consul's KV store: the record is the JSON value of one key, its version is
 * the key's ModifyIndex, writes are check-and-set transactions on that index, and `watch` follows the
 * key with blocking queries.
 */
export class ConsulLockStore implements LockStore {
  readonly backend = BACKEND;
  readonly capabilities: StoreCapabilities = { watch: true, leaseGranularityMs: 1 };
  /** The key prefix in use. */
  readonly keyPrefix: string;

  readonly #agent: HttpAgent | HttpsAgent;
  readonly #ownsAgent: boolean;
  readonly #transport: ConsulTransport;
  readonly #requestTimeoutMs: number;
  readonly #watchWaitMs: number;
  readonly #lifecycle = new StoreLifecycle(BACKEND);

  /** Validates the options (throwing InvalidArgumentError naming the field) and sets up the connection pool. */
  constructor(options: ConsulLockStoreOptions = {}) {
    const settings = settingsOf(options);
    this.keyPrefix = settings.keyPrefix;
    this.#requestTimeoutMs = settings.requestTimeoutMs;
    this.#watchWaitMs = settings.watchWaitMs;
    this.#agent = settings.agent;
    this.#ownsAgent = settings.ownsAgent;
    this.#transport = settings.transport;
  }

  /** The Consul key holding an election's lock. */
  keyOf(name: string): string {
    return `${this.keyPrefix}${name}`;
  }

  async get(name: string, options?: OperationOptions): Promise<Snapshot | null> {
    this.#check(name, "get");
    return this.#call("get", name, options?.signal, this.#requestTimeoutMs, async (signal) => {
      const read = await this.#transport.readKey(this.keyOf(name), signal);
      return read.entry === null ? null : toSnapshot(read.entry);
    });
  }

  /**
   * Creates the lock: a consistent read of the key, then a check-and-set with index 0 (only if the
   * key does not exist). The read's `X-Consul-Index` raises the fencing token (see
   * {@link tokenAbove}); both requests share one `requestTimeoutMs`.
   */
  async create(name: string, record: LeaderRecord, options?: OperationOptions): Promise<Snapshot> {
    this.#check(name, "create", record);
    const key = this.keyOf(name);
    return this.#call("create", name, options?.signal, this.#requestTimeoutMs, async (signal) => {
      // Consistent whatever the store's read mode: a lagging server could answer with an index
      // below a token already handed out (see tokenAbove). Creates are rare; the quorum round is cheap.
      const read = await this.#transport.readKey(key, signal, undefined, "consistent");
      if (read.entry !== null) {
        throw new ConflictError("the lock already exists", {
          backend: BACKEND,
          election: name,
          operation: "create",
        });
      }
      const stored = { ...record, leaderTransitions: tokenAbove(record.leaderTransitions, read.index, name) };
      const modifyIndex = await this.#transport.casWrite(key, encodeRecord(stored), 0, signal);
      return { version: String(modifyIndex), record: stored };
    });
  }

  async update(
    name: string,
    record: LeaderRecord,
    expectedVersion: string,
    options?: OperationOptions,
  ): Promise<Snapshot> {
    this.#check(name, "update", record);
    const index = parseVersion(expectedVersion);
    if (index === undefined) {
      // ModifyIndex is a positive integer, so no lock ever has this version; and cas=0 would mean
      // "create if absent", which an update must never do.
      throw new ConflictError(`the lock's version is not ${JSON.stringify(expectedVersion)}`, {
        backend: BACKEND,
        election: name,
        operation: "update",
      });
    }
    const value = encodeRecord(record);
    return this.#call("update", name, options?.signal, this.#requestTimeoutMs, async (signal) => {
      const modifyIndex = await this.#transport.casWrite(this.keyOf(name), value, index, signal);
      // A copy: the snapshot must not change if the caller later reuses its record object.
      return { version: String(modifyIndex), record: { ...record } };
    });
  }

  /** Follows the lock with blocking queries: see {@link watchKey}. */
  async *watch(name: string, signal: AbortSignal): AsyncIterable<Snapshot | null> {
    this.#check(name, "watch");
    const key = this.keyOf(name);
    // A blocking query legitimately takes up to wait + wait/16 (Consul's jitter) before answering.
    const blockingTimeoutMs = this.#watchWaitMs + Math.ceil(this.#watchWaitMs / 16) + this.#requestTimeoutMs;
    yield* watchKey(name, signal, this.#lifecycle, {
      watchWaitMs: this.#watchWaitMs,
      read: (stop, block) =>
        this.#call(
          "watch",
          name,
          stop,
          block === undefined ? this.#requestTimeoutMs : blockingTimeoutMs,
          (query) => this.#transport.readKey(key, query, block),
        ),
      toSnapshot,
    });
  }

  /** Stops every call and watch of this store; destroys the connection pool only if this store created it. */
  async close(): Promise<void> {
    if (!this.#lifecycle.close()) return;
    if (this.#ownsAgent) this.#agent.destroy();
  }

  /** Checks the name, the store's state and the record before any I/O (a rejection, in an async method). */
  #check(name: string, operation: string, record?: LeaderRecord): void {
    assertValidElectionName(name, { backend: BACKEND });
    this.#lifecycle.assertOpen({ election: name, operation });
    if (record !== undefined) assertValidRecord(record, { backend: BACKEND, election: name });
  }

  /**
   * One call of this store, however many requests it takes: ended by `timeoutMs`, the caller's
   * `signal` or the store closing, whichever comes first, with every failure mapped to Tenure's codes.
   */
  #call<T>(
    operation: string,
    name: string,
    signal: AbortSignal | undefined,
    timeoutMs: number,
    run: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const where = { election: name, operation, key: this.keyOf(name), keyPrefix: this.keyPrefix };
    return boundedCall(
      {
        timeoutMs,
        signal,
        closing: this.#lifecycle.signal,
        context: { backend: BACKEND, election: name, operation },
        mapError: (error) => mapFailure(error, where),
      },
      run,
    );
  }
}

/**
 * The fencing token of a new lock: the requested one, raised to one above `index`, the
 * `X-Consul-Index` of a consistent read that found the key missing. Why that is above every token
 * the lock ever handed out, even if it was deleted: for a missing key Consul answers with the
 * highest Raft index of the KV table and of its tombstones (`kvsMaxIndex` in Consul's state store),
 * which every KV write and delete sets to its own index and which reaping tombstones does not
 * lower, so it is at least the index of the key's deletion and only grows. Each token Tenure wrote
 * is at most the ModifyIndex of the write that carried it: a create's token is this index + 1 or
 * the requested one, which the Elector takes from a record it saw (+1), so at most that record's
 * ModifyIndex + 1; either way at most the create's own, later, index. A takeover writes the
 * previous token + 1, at a higher index than the previous write's. The README's "Fencing tokens"
 * lists what this cannot cover (a snapshot restore, a new cluster, a record written by something else).
 */
function tokenAbove(requested: number, index: number | undefined, election: string): number {
  if (index === undefined) {
    throw new TenureError("INTERNAL", "the Consul agent answered a read without X-Consul-Index", {
      backend: BACKEND,
      election,
      operation: "create",
      remedy:
        "the fencing token needs it: check that no proxy between Tenure and the agent strips the header",
    });
  }
  const token = Math.max(requested, index + 1);
  if (!Number.isSafeInteger(token)) {
    throw new TenureError("INTERNAL", `Consul's index ${index} is beyond a safe JavaScript integer`, {
      backend: BACKEND,
      election,
      operation: "create",
    });
  }
  return token;
}

/** The stored value as a snapshot: the record, or a corrupt snapshot whose version a CAS can replace. */
function toSnapshot(entry: KvEntry): Snapshot {
  const version = String(entry.modifyIndex);
  if (entry.value === null || entry.value === "") {
    return { version, record: null, corruption: "the key has an empty value" };
  }
  return snapshotOf(version, decodeRecord(entry.value));
}

/** A version this store handed out: a ModifyIndex, a positive integer in decimal. */
function parseVersion(version: string): number | undefined {
  if (typeof version !== "string" || !/^[1-9]\d*$/.test(version)) return undefined;
  const index = Number(version);
  return Number.isSafeInteger(index) ? index : undefined;
}
