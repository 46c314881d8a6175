import type { LeaderRecord, LockStore, OperationOptions, Snapshot, StoreCapabilities } from "@tenure/core";
import { ConflictError, TenureError } from "@tenure/core";
import { AsyncQueue, assertValidElectionName, StoreLifecycle } from "@tenure/core/adapter";
import { AnnotationLock, type AnnotationLockOptions, type AnnotationObjectKind } from "./annotation-lock.js";
import type { KubernetesLockOptions } from "./client.js";
import { LeaseLock, type LeaseLockOptions } from "./lease-lock.js";
import { decodeVersion, mergeSnapshots, PairTimeline } from "./migration-merge.js";
import { versionOrder } from "./newest-state.js";

/**
 * What a half of a {@link MigrationLock} may offer besides the LockStore methods. Every member is
 * optional and found by its shape (a method of that name), never with `instanceof`, so a Kubernetes
 * lock from another copy of this package, a wrapper around one, or any store that implements these
 * is treated alike. Every lock of this package offers all of them. What the migration lock does when
 * a half lacks one is said on each; it logs a warning at construction for each member a half lacks.
 */
export interface MigrationHalf extends LockStore {
  /**
   * The newest state of the lock this store has seen (its own writes, reads and watch), or
   * undefined. The half-write guard: a write whose half this store knows to have moved is refused
   * with CONFLICT before either object is touched, and a read whose halves were answered at
   * different moments uses the half known to be newer. Without it, such a write lands its first
   * half and fails on the second: the lock then reads as UNKNOWN_LEADER until it is taken over a
   * full lease later — time lost, never a second leader.
   */
  newestKnown?(name: string): Snapshot | undefined;
  /**
   * Throws INVALID_ARGUMENT when this half cannot store `record`; checked on both halves before
   * either is written. Without it, the half refuses such a record only when it is written, which may
   * be after the other half was (a half-write, as above).
   */
  assertWritable?(name: string, record: LeaderRecord): void;
  /**
   * With `raiseToken`: the fencing-token floor of a new term (see KubernetesObjectLock.tokenFloor),
   * which a create raises once for both halves. Without them, the first half's create raises its
   * token on its own, and the second half is written with the token the first one stored.
   */
  tokenFloor?(name: string, options?: OperationOptions): Promise<bigint | undefined>;
  /** `record` with its token raised to `floor` as far as this half can store it (KubernetesObjectLock.raiseToken). */
  raiseToken?(name: string, record: LeaderRecord, floor: bigint | undefined): LeaderRecord;
  /**
   * Creates with `record` exactly as given, its token included. Without it, a half is created with
   * `create`, which may raise the token above the other half's: the merged token is then the larger
   * (so the next term's still exceeds both), and the halves name one term again after the next write.
   */
  createExactly?(name: string, record: LeaderRecord, options?: OperationOptions): Promise<Snapshot>;
}

export interface MigrationLockOptions extends KubernetesLockOptions {
  /**
   * The lock the fleet migrates from. Default: an AnnotationLock on `primaryKind` (Endpoints), built
   * from these options. A store passed in is closed by the migration lock's close(). See
   * {@link MigrationHalf} for what it may offer besides LockStore.
   */
  readonly primary?: MigrationHalf;
  /** The lock the fleet migrates to. Default: a LeaseLock built from these options. */
  readonly secondary?: MigrationHalf;
  /** The object of the default primary annotation lock. Default `"Endpoints"`. */
  readonly primaryKind?: AnnotationObjectKind;
  /** Clients for the default locks (see AnnotationLockOptions.client and LeaseLockOptions.client). */
  readonly coreClient?: AnnotationLockOptions["client"];
  readonly coordinationClient?: LeaseLockOptions["client"];
}

/** The optional members of a half, in the order the construction warning lists them. */
const HALF_MEMBERS = ["newestKnown", "assertWritable", "tokenFloor", "raiseToken", "createExactly"] as const;

/** The newest state `store` knows of, when it can tell (see MigrationHalf.newestKnown). */
function newestKnown(store: MigrationHalf, name: string): Snapshot | undefined {
  return typeof store.newestKnown === "function" ? store.newestKnown(name) : undefined;
}

/** `read`, or the newer state `store` has seen since. */
function newer(store: MigrationHalf, name: string, read: Snapshot | null): Snapshot | null {
  const known = newestKnown(store, name);
  if (known === undefined) return read;
  if (read === null) return known;
  const knownOrder = versionOrder(known.version);
  const readOrder = versionOrder(read.version);
  return knownOrder !== undefined && readOrder !== undefined && knownOrder > readOrder ? known : read;
}

/** Whether `store` has seen the lock at a state newer than `version` (`null`: absent). */
function movedOn(store: MigrationHalf, name: string, version: string | null): boolean {
  const known = newestKnown(store, name);
  if (known === undefined) return false;
  if (version === null) return true;
  const knownOrder = versionOrder(known.version);
  const expectedOrder = versionOrder(version);
  return knownOrder !== undefined && expectedOrder !== undefined && knownOrder > expectedOrder;
}

/** Creates one half with the token the migration lock raised, where the half can take it as given. */
function createHalf(
  store: MigrationHalf,
  name: string,
  record: LeaderRecord,
  options: OperationOptions | undefined,
): Promise<Snapshot> {
  return typeof store.createExactly === "function"
    ? store.createExactly(name, record, options)
    : store.create(name, record, options);
}

/** `fields` without those that are undefined: options are left out, never set to undefined. */
function defined<T extends object>(fields: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

/** `record` with the token the first half stored, so that the second half names the same term. */
function sameToken(record: LeaderRecord, first: Snapshot): LeaderRecord {
  const token = first.record?.leaderTransitions;
  return token === undefined || token === record.leaderTransitions
    ? record
    : { ...record, leaderTransitions: token };
}

/**
 * Holds two locks at once, for a rolling migration between them (client-go's MultiLock): by default
 * the 2016 annotation lock on Endpoints as the primary and a Lease as the secondary.
 *
 * ## Why the two fleets never both lead
 *
 * The migration runs in two rolling updates: (1) the fleet on the annotation lock is replaced by a
 * fleet on this lock; (2) that fleet is replaced by one on the Lease lock. During (1) every writer
 * writes the primary, and this lock writes it first with a compare-and-swap, so the primary alone
 * excludes two leaders, exactly as before the migration. During (2) every writer writes the Lease,
 * and this lock takes leadership only when its compare-and-swap on the Lease succeeded too, so the
 * Lease alone excludes two leaders. Skipping step (1) — annotation-lock and Lease-lock fleets at the
 * same time — is never safe: they share no object.
 *
 * ## Versions and partial writes
 *
 * The version is the pair of resourceVersions, `["<primary>", "<secondary>"]` (`null` for a missing
 * object). An update writes the primary with its half, then the secondary with its half; a missing
 * half is a create. Each write is a compare-and-swap on the state the caller observed, so a write
 * succeeds only if neither object changed since: the pair behaves as one compare-and-swap for the
 * question "may I lead", although the two writes are not atomic.
 *
 * When the first write lands and the second fails (a conflict: another fleet wrote the Lease; or an
 * outage), the call fails, so the caller does not lead. The objects now disagree, and a reader merges
 * disagreeing holders into UNKNOWN_LEADER: nobody, the writer included, treats the lock as its own
 * or as free. It is taken over only with a new compare-and-swap on both halves after the merged
 * state stayed unchanged for a whole lease — the engine's rule for a holder it cannot see renewing.
 * A live leader on the other object keeps changing the version, so the takeover waits for it to stop.
 * The cost of a partial write is therefore time (at most a lease), never a second leader. The merged
 * lease duration and transition count are the larger of the two halves, so expiry is judged
 * conservatively and the next fencing token exceeds both. A half that offers `newestKnown` (see
 * {@link MigrationHalf}) lets this lock refuse a write it knows would be partial before it starts.
 *
 * ## Fencing tokens
 *
 * A create (both objects missing: never created, or both deleted) raises the token once, before
 * either write, above the floor of both objects (see KubernetesObjectLock.tokenFloor), and writes
 * both halves with it, so the new term's token exceeds every token either object ever carried. An
 * update that finds one half missing creates it with the record as given: the other half still holds
 * the lock's history, and the engine's token exceeds it. That is not enough in one case: while a fleet
 * on a single lock still writes one of the objects alone (the annotation fleet in step 1, the Lease
 * fleet in step 2), its tokens can run ahead of the other object's; if that object is then deleted,
 * the migration fleet recreates it with tokens the single-lock fleet already handed out.
 */
export class MigrationLock implements LockStore {
  readonly backend: string;
  readonly capabilities: StoreCapabilities;
  readonly primary: MigrationHalf;
  readonly secondary: MigrationHalf;
  readonly #lifecycle: StoreLifecycle;

  constructor(options: MigrationLockOptions = {}) {
    const { namespace, kubeConfig, requestTimeoutMs, logger, watchTimeoutSeconds, sharedWatch } = options;
    const shared = defined({
      namespace,
      kubeConfig,
      requestTimeoutMs,
      logger,
      watchTimeoutSeconds,
      sharedWatch,
    });
    const objectKind = options.primaryKind ?? "Endpoints";
    this.primary =
      options.primary ??
      new AnnotationLock({ ...shared, objectKind, ...defined({ client: options.coreClient }) });
    this.secondary =
      options.secondary ?? new LeaseLock({ ...shared, ...defined({ client: options.coordinationClient }) });
    this.backend = `${this.primary.backend}+${this.secondary.backend}`;
    this.#lifecycle = new StoreLifecycle(this.backend);
    this.capabilities = {
      watch:
        this.primary.capabilities.watch &&
        this.secondary.capabilities.watch &&
        this.primary.watch !== undefined &&
        this.secondary.watch !== undefined,
      leaseGranularityMs: Math.max(
        this.primary.capabilities.leaseGranularityMs,
        this.secondary.capabilities.leaseGranularityMs,
      ),
    };
    this.#warnLacking("primary", this.primary, options);
    this.#warnLacking("secondary", this.secondary, options);
  }

  async get(name: string, options?: OperationOptions): Promise<Snapshot | null> {
    this.#check(name, "get");
    const [primary, secondary] = await Promise.all([
      this.primary.get(name, options),
      this.secondary.get(name, options),
    ]);
    // The two reads are answered at different moments. If, by the time both are back, one half is
    // known (from this lock's own watch or writes) to have moved on, the newer half is used: a pair
    // with a stale half is a state a compare-and-swap can only half win.
    return mergeSnapshots(newer(this.primary, name, primary), newer(this.secondary, name, secondary));
  }

  /** Creates both objects, the primary first. Either existing already is a CONFLICT. */
  async create(name: string, record: LeaderRecord, options?: OperationOptions): Promise<Snapshot> {
    this.#check(name, "create", record);
    if (movedOn(this.primary, name, null) || movedOn(this.secondary, name, null)) {
      // A half known to exist already would make this a half-create.
      throw new ConflictError("the lock already exists", {
        backend: this.backend,
        election: name,
        operation: "create",
      });
    }
    const raised = await this.#raiseToken(name, record, options);
    const primary = await createHalf(this.primary, name, raised, options);
    // A half that raised its token on its own (one without createExactly) sets it for both.
    const secondary = await createHalf(this.secondary, name, sameToken(raised, primary), options);
    return this.#merged(name, primary, secondary);
  }

  /** Writes the primary, then the secondary, each a compare-and-swap on its half of the version. */
  async update(
    name: string,
    record: LeaderRecord,
    expectedVersion: string,
    options?: OperationOptions,
  ): Promise<Snapshot> {
    this.#check(name, "update", record);
    const pair = decodeVersion(expectedVersion);
    const moved = (problem: string) =>
      new ConflictError(problem, { backend: this.backend, election: name, operation: "update" });
    if (pair === undefined || (pair[0] === null && pair[1] === null)) {
      throw moved("the lock's version moved (not a version of this migration lock)");
    }
    // A half this lock already knows to have moved would fail its compare-and-swap after the other
    // half was written: refuse the whole write before touching anything.
    if (movedOn(this.primary, name, pair[0]) || movedOn(this.secondary, name, pair[1])) {
      throw moved("the lock's version moved");
    }
    // A missing half is created with the record exactly as given, like the half that is updated: an
    // update stores what the engine asked for, and the two halves must name the same term. The token
    // needs no raising here: the other half exists, and the engine's token is above its tokens (see
    // "Fencing tokens" in the class comment for the one case where that is not enough).
    const write = (store: MigrationHalf, version: string | null, half: LeaderRecord): Promise<Snapshot> =>
      version === null ? createHalf(store, name, half, options) : store.update(name, half, version, options);
    const primary = await write(this.primary, pair[0], record);
    const secondary = await write(this.secondary, pair[1], sameToken(record, primary));
    return this.#merged(name, primary, secondary);
  }

  /**
   * Watches both objects and reports the merged state: first the current one, then, in commit order,
   * each state in which the two objects name the same term (or are both missing). Renewals are
   * therefore all reported, even one whose second half never lands. A write that changes the term
   * passes through a state where only its first half landed; reporting it would show the change
   * twice, the first time as an unknown holder, so it is not reported. States where the objects
   * disagree for longer (a fleet on one of the two locks wrote, or a half-written acquisition) are
   * thus not pushed either: the engine meets them when the lease it last saw runs out and it reads,
   * which costs time, never safety — every takeover is a compare-and-swap on both halves. The two
   * streams are merged by commit point (see PairTimeline).
   */
  async *watch(name: string, signal: AbortSignal): AsyncIterable<Snapshot | null> {
    this.#check(name, "watch");
    const primaryWatch = this.primary.watch?.bind(this.primary);
    const secondaryWatch = this.secondary.watch?.bind(this.secondary);
    if (primaryWatch === undefined || secondaryWatch === undefined) {
      throw new TenureError("INTERNAL", "watch needs both locks to support it", {
        backend: this.backend,
        election: name,
        operation: "watch",
      });
    }
    if (signal.aborted) return;
    // Both sides' states, in the order they arrive; the first side to end or fail ends the merged watch.
    const states = new AsyncQueue<{ readonly side: 0 | 1; readonly snapshot: Snapshot | null }>();
    const stop = new AbortController();
    const both = AbortSignal.any([signal, stop.signal]);
    const pump = async (side: 0 | 1, stream: AsyncIterable<Snapshot | null>): Promise<void> => {
      try {
        for await (const snapshot of stream) states.push({ side, snapshot });
        states.end(); // one side ended (aborted): so does the merged stream
      } catch (error) {
        states.fail(error);
      }
    };
    void pump(0, primaryWatch(name, both));
    void pump(1, secondaryWatch(name, both));
    // An abort ends the merged stream at once: nothing more is reported, no failure thrown.
    const onAbort = (): void => void states.return();
    signal.addEventListener("abort", onAbort, { once: true });
    const timeline = new PairTimeline();
    try {
      for await (const { side, snapshot } of states) yield* timeline.add(side, snapshot);
    } finally {
      signal.removeEventListener("abort", onAbort);
      stop.abort();
    }
  }

  /** Closes both locks. */
  async close(): Promise<void> {
    if (!this.#lifecycle.close()) return;
    await Promise.all([this.primary.close(), this.secondary.close()]);
  }

  /**
   * `record` with its token raised to the floor of both objects (see KubernetesObjectLock.tokenFloor),
   * computed before either write, so that the two halves store the same token and name the same term.
   * Both objects live in one etcd, so either floor is above every token either object ever carried;
   * the larger is used. When one half cannot carry the floor (a Lease, above half its int32 range:
   * see KubernetesObjectLock.raiseToken), the token stays as given for both, and that half warns. A
   * half that offers no token floor (see MigrationHalf.tokenFloor) raises nothing here.
   */
  async #raiseToken(
    name: string,
    record: LeaderRecord,
    options: OperationOptions | undefined,
  ): Promise<LeaderRecord> {
    const raisers = [this.primary, this.secondary].flatMap((store) =>
      typeof store.tokenFloor === "function" && typeof store.raiseToken === "function"
        ? [{ tokenFloor: store.tokenFloor.bind(store), raiseToken: store.raiseToken.bind(store) }]
        : [],
    );
    if (raisers.length === 0) return record;
    const floors = await Promise.all(raisers.map((half) => half.tokenFloor(name, options)));
    let floor: bigint | undefined;
    for (const candidate of floors) {
      if (candidate !== undefined && (floor === undefined || candidate > floor)) floor = candidate;
    }
    if (floor === undefined) return record;
    const token = Math.min(...raisers.map((half) => half.raiseToken(name, record, floor).leaderTransitions));
    return token === record.leaderTransitions ? record : { ...record, leaderTransitions: token };
  }

  #merged(name: string, primary: Snapshot, secondary: Snapshot): Snapshot {
    const merged = mergeSnapshots(primary, secondary);
    if (merged === null) {
      throw new TenureError("INTERNAL", "a write returned no state", {
        backend: this.backend,
        election: name,
      });
    }
    return merged;
  }

  #check(name: string, operation: string, record?: LeaderRecord): void {
    assertValidElectionName(name, { backend: this.backend });
    this.#lifecycle.assertOpen({ election: name, operation });
    // A record only one half can store would be a partial write by construction: refuse it first.
    if (record === undefined) return;
    for (const store of [this.primary, this.secondary]) {
      if (typeof store.assertWritable === "function") store.assertWritable(name, record);
    }
  }

  /** Says, once, what this lock goes without when a half passed in lacks members of MigrationHalf. */
  #warnLacking(role: "primary" | "secondary", store: MigrationHalf, options: MigrationLockOptions): void {
    const missing = HALF_MEMBERS.filter((member) => typeof store[member] !== "function");
    if (missing.length === 0) return;
    const guard = missing.includes("newestKnown")
      ? "; without newestKnown it cannot refuse a write whose other half it knows to have moved, so such a write lands half and the lock reads as held by an unknown leader for up to a lease"
      : "";
    options.logger?.warn(
      `the ${role} lock (${store.backend}) offers no ${missing.join(", ")} (see MigrationHalf in @tenure/kubernetes): the migration lock works without${guard}`,
      { backend: this.backend, half: role, missing },
    );
  }
}
