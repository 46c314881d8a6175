import type { LeaderRecord, LockStore, OperationOptions, Snapshot, StoreCapabilities } from "@tenure/core";
import { ConflictError, InvalidArgumentError, TenureError } from "@tenure/core";
import {
  assertValidElectionName,
  assertValidRecord,
  decodeRecord,
  encodeRecord,
  StoreLifecycle,
  snapshotOf,
} from "@tenure/core/adapter";
import type { Etcd3, ICompare, IKeyValue } from "etcd3";
import { RequestBatcher } from "./batch.js";
import { EtcdCalls } from "./calls.js";
import { BACKEND, type FailureContext } from "./errors.js";
import { type EtcdLockStoreOptions, settingsOf } from "./options.js";
import { watchKey } from "./watch.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });
/** A version this store hands out: an etcd revision, a positive int64 in decimal. */
const REVISION = /^[1-9][0-9]{0,18}$/;
const MAX_REVISION = 2n ** 63n - 1n;

/**
 * A {@link LockStore} on etcd v3. Each election is one key holding the record as JSON; its
 * version is the key's `mod_revision`. A create is a transaction that commits only while the
 * key's `create_revision` is 0 (the key does not exist), an update one that commits only while
 * `mod_revision` is the expected version: linearizable compare-and-swap through Raft. Revisions
 * are cluster-wide and never reused, so a deleted and re-created key cannot pass an old version
 * (no ABA). Followers watch the key instead of polling.
 */
export class EtcdLockStore implements LockStore {
  readonly backend = BACKEND;
  readonly capabilities: StoreCapabilities = { watch: true, leaseGranularityMs: 1 };
  /** Prefix of every lock key. */
  readonly keyPrefix: string;
  /** Time limit of one call, in milliseconds. */
  readonly requestTimeoutMs: number;
  /** Most requests of different elections one etcd transaction carries (see the option of the same name). */
  readonly maxRequestsPerTransaction: number;

  readonly #client: Etcd3;
  readonly #ownsClient: boolean;
  readonly #user: string | undefined;
  readonly #lifecycle = new StoreLifecycle(BACKEND);
  readonly #calls: EtcdCalls;
  readonly #batcher: RequestBatcher;

  constructor(options: EtcdLockStoreOptions = {}) {
    const settings = settingsOf(options);
    this.keyPrefix = settings.keyPrefix;
    this.requestTimeoutMs = settings.requestTimeoutMs;
    this.#client = settings.client;
    this.#ownsClient = settings.ownsClient;
    this.#user = settings.user;
    this.#calls = new EtcdCalls({
      client: this.#client,
      requestTimeoutMs: this.requestTimeoutMs,
      lifecycle: this.#lifecycle,
      failureContext: (name, operation) => this.#failureContext(name, operation),
    });
    this.maxRequestsPerTransaction = settings.maxRequestsPerTransaction;
    this.#batcher = new RequestBatcher(this.#client, settings.maxRequestsPerTransaction);
  }

  /** The etcd key that holds election `name`. */
  keyOf(name: string): string {
    return `${this.keyPrefix}${name}`;
  }

  get(name: string, options?: OperationOptions): Promise<Snapshot | null> {
    return this.#calls.run("get", name, options, async (callOptions) => {
      const response = await this.#batcher.range({ key: Buffer.from(this.keyOf(name)) }, callOptions);
      const kv = response.kvs[0];
      return kv === undefined ? null : toSnapshot(kv);
    });
  }

  create(name: string, record: LeaderRecord, options?: OperationOptions): Promise<Snapshot> {
    return this.#write("create", name, record, undefined, options);
  }

  update(
    name: string,
    record: LeaderRecord,
    expectedVersion: string,
    options?: OperationOptions,
  ): Promise<Snapshot> {
    return this.#write("update", name, record, expectedVersion, options);
  }

  /** Watches the key: see {@link watchKey}. */
  async *watch(name: string, signal: AbortSignal): AsyncIterable<Snapshot | null> {
    assertValidElectionName(name, { backend: BACKEND });
    this.#lifecycle.assertOpen({ election: name, operation: "watch" });
    if (signal.aborted) return;
    yield* watchKey(
      this.#calls,
      name,
      this.keyOf(name),
      signal,
      this.#failureContext(name, "watch"),
      toSnapshot,
    );
  }

  async close(): Promise<void> {
    // Closing ends open watches and calls in flight with CLOSED (through the lifecycle's signal).
    if (!this.#lifecycle.close()) return;
    if (this.#ownsClient) this.#client.close();
  }

  async #write(
    operation: "create" | "update",
    name: string,
    record: LeaderRecord,
    expectedVersion: string | undefined,
    options: OperationOptions | undefined,
  ): Promise<Snapshot> {
    // Validation happens before any I/O and rejects (this is an async function), never throws.
    assertValidElectionName(name, { backend: BACKEND });
    this.#lifecycle.assertOpen({ election: name, operation });
    assertValidRecord(record, { backend: BACKEND, election: name });
    const where = { backend: BACKEND, election: name, operation };
    if (operation === "update" && typeof expectedVersion !== "string") {
      // Not a version at all (a caller outside TypeScript): a mistake, not a lost race. Undefined
      // in particular must not fall through to the create path below.
      throw new InvalidArgumentError(
        "expectedVersion",
        "must be a version string this store returned",
        where,
      );
    }
    if (expectedVersion !== undefined && !isRevision(expectedVersion)) {
      // No lock ever had this version, so the compare-and-swap is lost, as it would be on etcd. It
      // must not be sent: a compare on mod_revision 0 would pass for a missing key (a create).
      throw new ConflictError(
        `no lock ever had version ${JSON.stringify(expectedVersion)} (etcd's are mod_revisions, positive integers)`,
        where,
      );
    }
    const key = Buffer.from(this.keyOf(name));
    const conflict = (): ConflictError =>
      new ConflictError(
        operation === "create"
          ? "the lock already exists"
          : `the lock's version is no longer ${expectedVersion} (another candidate wrote it, or it was deleted)`,
        where,
      );
    // One time limit for the whole operation: a create's read and write share the call's deadline.
    const written = await this.#calls.run(operation, name, options, async (callOptions) => {
      let stored = record;
      if (expectedVersion === undefined) {
        const read = await this.#batcher.range({ key, count_only: true }, callOptions);
        if (read.count !== "0") throw conflict();
        stored = { ...record, leaderTransitions: tokenAbove(record.leaderTransitions, read.revision) };
      }
      const value = Buffer.from(encodeRecord(stored));
      const compare: ICompare =
        expectedVersion === undefined
          ? { key, target: "Create", result: "Equal", create_revision: 0 }
          : { key, target: "Mod", result: "Equal", mod_revision: expectedVersion };
      const outcome = await this.#batcher.put({ key, compare, value }, callOptions);
      if (!outcome.succeeded) throw conflict();
      // The put is the only write of this key in its round trip, so it happened at the revision
      // the header reports (a batch commits all its writes at one revision).
      return { mod_revision: outcome.revision, value };
    });
    return toSnapshot(written);
  }

  #failureContext(name: string, operation: string): FailureContext {
    return { election: name, operation, key: this.keyOf(name), keyPrefix: this.keyPrefix, user: this.#user };
  }
}

/** Whether `version` is one etcd could have issued: a revision, a positive int64. */
function isRevision(version: string): boolean {
  return REVISION.test(version) && BigInt(version) <= MAX_REVISION;
}

/**
 * The fencing token of a new lock: the requested one, raised to one above `revision`, the store's
 * revision read (linearizably) just before the create. Why that is above every token the lock ever
 * handed out, even if it was deleted: etcd's revision counts every write of the cluster and never
 * goes back, and each token Tenure wrote is at most the mod_revision of the write that carried it.
 * A create's token is its read revision + 1 or the requested one, which the Elector takes from a
 * record it saw (+1), so at most that record's revision + 1; either way at most the create's own,
 * later, revision. A takeover writes the previous token + 1, at most the previous write's revision
 * + 1, at a higher revision. The key was absent at `revision`, so every write that carried a token
 * happened at or before it. (A read batched with other elections' writes reports the revision
 * after them: higher, and still below the create's own.) The README's "Fencing tokens" lists what this cannot cover (a record
 * written by something else, a restore from an older backup).
 */
function tokenAbove(requested: number, revision: string): number {
  const floor = BigInt(revision) + 1n;
  if (BigInt(requested) >= floor) return requested;
  const token = Number(floor);
  if (!Number.isSafeInteger(token)) {
    throw new TenureError("INTERNAL", `etcd's revision ${revision} is beyond a safe JavaScript integer`, {
      backend: BACKEND,
      operation: "create",
    });
  }
  return token;
}

/** The snapshot of a stored key; a value that is not a record comes back corrupt, with its version. */
function toSnapshot(kv: Pick<IKeyValue, "mod_revision" | "value">): Snapshot {
  const version = String(kv.mod_revision);
  let text: string;
  try {
    text = utf8.decode(kv.value);
  } catch {
    return { version, record: null, corruption: "the value is not UTF-8 text" };
  }
  return snapshotOf(version, decodeRecord(text));
}
