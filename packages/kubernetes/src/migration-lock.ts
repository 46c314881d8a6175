import type {
  DecodeResult,
  LeaderRecord,
  LockStore,
  OperationOptions,
  Snapshot,
  StoreCapabilities,
} from "@tenure/core";
import { assertValidElectionName, ClosedError, ConflictError, TenureError } from "@tenure/core";
import { AnnotationLock, type AnnotationLockOptions, type AnnotationObjectKind } from "./annotation-lock.js";
import type { KubernetesLockOptions } from "./client.js";
import { LeaseLock, type LeaseLockOptions } from "./lease-lock.js";
import { KubernetesObjectLock, versionOrder } from "./object-lock.js";

/**
 * The holder a migration lock reports when its two objects name different holders, as client-go's
 * MultiLock does (`leaderelection.k8s.io/unknown`): nobody in this fleet may treat the lock as its own
 * or as free until it has stayed unchanged for a whole lease.
 */
export const UNKNOWN_LEADER = "leaderelection.k8s.io/unknown";

export interface MigrationLockOptions extends KubernetesLockOptions {
  /**
   * The lock the fleet migrates from. Default: an AnnotationLock on `primaryKind` (Endpoints), built
   * from these options. A store passed in is closed by the migration lock's close().
   */
  readonly primary?: LockStore;
  /** The lock the fleet migrates to. Default: a LeaseLock built from these options. */
  readonly secondary?: LockStore;
  /** The object of the default primary annotation lock. Default `"Endpoints"`. */
  readonly primaryKind?: AnnotationObjectKind;
  /** Clients for the default locks (see AnnotationLockOptions.client and LeaseLockOptions.client). */
  readonly coreClient?: AnnotationLockOptions["client"];
  readonly coordinationClient?: LeaseLockOptions["client"];
}

/** A composite version: the primary's and the secondary's versions, `null` where that object is missing. */
type VersionPair = readonly [string | null, string | null];

function encodeVersion(pair: VersionPair): string {
  return JSON.stringify(pair);
}

function decodeVersion(version: string): VersionPair | undefined {
  try {
    const parsed: unknown = JSON.parse(version);
    if (
      Array.isArray(parsed) &&
      parsed.length === 2 &&
      parsed.every((part) => part === null || (typeof part === "string" && part !== ""))
    ) {
      return [parsed[0] as string | null, parsed[1] as string | null];
    }
  } catch {
    // not one of ours: treated as a version that moved
  }
  return undefined;
}

/**
 * Whether two records name the same term: same holder, lease duration and transition count. Their
 * times may differ: a renewal whose second half has not landed yet (or never will, if the leader
 * lost the network between the two writes) still says who leads, and since when it last wrote.
 */
function sameTerm(a: LeaderRecord, b: LeaderRecord): boolean {
  return (
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.leaderTransitions === b.leaderTransitions
  );
}

/**
 * Merges the two objects' states into the one the election sees.
 *
 * - one object missing: the other's record (the fleet on the other lock is the only writer so far);
 * - either undecodable: undecodable (the engine waits a full unchanged lease before taking over);
 * - same holder: that record, with the larger lease duration and transition count;
 * - different holders: UNKNOWN_LEADER with the larger lease duration and transition count, so no
 *   member of this fleet believes it holds the lock, or that it is free, on the strength of one half.
 */
export function mergeSnapshots(primary: Snapshot | null, secondary: Snapshot | null): Snapshot | null {
  if (primary === null && secondary === null) return null;
  const version = encodeVersion([primary?.version ?? null, secondary?.version ?? null]);
  const decoded = merge(primary, secondary);
  return "record" in decoded
    ? { version, record: decoded.record }
    : { version, record: null, corruption: decoded.corruption };
}

function merge(primary: Snapshot | null, secondary: Snapshot | null): DecodeResult {
  if (primary?.corruption !== undefined) return { corruption: `primary: ${primary.corruption}` };
  if (secondary?.corruption !== undefined) return { corruption: `secondary: ${secondary.corruption}` };
  const a = primary?.record ?? null;
  const b = secondary?.record ?? null;
  if (a === null || b === null) {
    const only = a ?? b;
    if (only === null) return { corruption: "neither object holds a record" };
    return { record: only };
  }
  const combined = {
    leaseDurationSeconds: Math.max(a.leaseDurationSeconds, b.leaseDurationSeconds),
    leaderTransitions: Math.max(a.leaderTransitions, b.leaderTransitions),
  };
  if (a.holderIdentity === b.holderIdentity) return { record: { ...a, ...combined } };
  return {
    record: {
      ...a,
      ...combined,
      holderIdentity: UNKNOWN_LEADER,
      // An empty-holder half would otherwise make the whole look released with a 0 s lease.
      leaseDurationSeconds: Math.max(combined.leaseDurationSeconds, 1),
    },
  };
}

/**
 * Whether a merged state can be reported by the watch: both objects missing, or both naming the same
 * term. A composite write that changes the term (an acquisition, a release, a new token) passes
 * through a state where only its first half landed; that state is not reported. See
 * {@link MigrationLock.watch}.
 */
function settled(primary: Snapshot | null, secondary: Snapshot | null): boolean {
  if (primary === null || secondary === null) return primary === secondary;
  if (primary.record === null || secondary.record === null) return false;
  return sameTerm(primary.record, secondary.record);
}

/** One state a side's watch reported, with the commit point it belongs to. */
interface Sighting {
  readonly point: bigint;
  readonly snapshot: Snapshot | null;
}

/**
 * Rebuilds the sequence of merged states from two independent watch streams. Each stream is in
 * commit order, but one may run ahead of the other: the primary stream can report a composite
 * write's primary half, and the next write's too, before the Lease stream reports the first write's
 * Lease half. Both objects live in one etcd, whose revisions (the resourceVersions) order all
 * commits, so the pair at each commit point can be rebuilt once both halves have arrived, and the
 * settled pairs reported in commit order. (A resourceVersion that is not a number, or a deletion,
 * which carries none through the watch, counts at its side's previous point.)
 */
class PairTimeline {
  readonly #sides: [Sighting[], Sighting[]] = [[], []];
  #lastPoint: bigint | undefined;
  #lastVersion: string | null | undefined;

  /** Records one side's new state; returns the merged states now due, oldest first. */
  add(side: 0 | 1, snapshot: Snapshot | null): (Snapshot | null)[] {
    const sightings = this.#sides[side];
    const previous = sightings.at(-1)?.point ?? 0n;
    const order = snapshot === null ? undefined : versionOrder(snapshot.version);
    const point = order !== undefined && order > previous ? order : previous;
    sightings.push({ point, snapshot });
    const [primary, secondary] = this.#sides;
    if (primary.length === 0 || secondary.length === 0) return []; // still starting
    const due: (Snapshot | null)[] = [];
    if (this.#lastVersion === undefined) {
      // The first report is the current state, whatever it is: the contract starts with it.
      const first = mergeSnapshots(primary.at(-1)?.snapshot ?? null, secondary.at(-1)?.snapshot ?? null);
      due.push(first);
      this.#lastVersion = first?.version ?? null;
      this.#lastPoint = maxPoint(primary.at(-1)?.point ?? 0n, secondary.at(-1)?.point ?? 0n);
    } else {
      const points = [...new Set([...primary, ...secondary].map((sighting) => sighting.point))]
        .filter(
          (candidate) => candidate >= point && (this.#lastPoint === undefined || candidate > this.#lastPoint),
        )
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const at of points) {
        const a = stateAt(primary, at);
        const b = stateAt(secondary, at);
        if (a === undefined || b === undefined || !settled(a.snapshot, b.snapshot)) continue;
        const merged = mergeSnapshots(a.snapshot, b.snapshot);
        const version = merged?.version ?? null;
        if (version === this.#lastVersion) continue;
        due.push(merged);
        this.#lastVersion = version;
        this.#lastPoint = at;
      }
    }
    // Keep, per side, the state at the last reported point and everything after it.
    for (const list of this.#sides) {
      const keepFrom = list.findLastIndex((sighting) => sighting.point <= (this.#lastPoint ?? 0n));
      if (keepFrom > 0) list.splice(0, keepFrom);
    }
    return due;
  }
}

/** `read`, or the newer state `store` has seen since (Kubernetes locks keep track of it). */
function newer(store: LockStore, name: string, read: Snapshot | null): Snapshot | null {
  if (!(store instanceof KubernetesObjectLock)) return read;
  const known = store.newestKnown(name);
  if (known === undefined) return read;
  if (read === null) return known;
  const knownOrder = versionOrder(known.version);
  const readOrder = versionOrder(read.version);
  return knownOrder !== undefined && readOrder !== undefined && knownOrder > readOrder ? known : read;
}

/** Whether `store` has seen the lock at a state newer than `version` (`null`: absent). */
function movedOn(store: LockStore, name: string, version: string | null): boolean {
  if (!(store instanceof KubernetesObjectLock)) return false;
  const known = store.newestKnown(name);
  if (known === undefined) return false;
  if (version === null) return true;
  const knownOrder = versionOrder(known.version);
  const expectedOrder = versionOrder(version);
  return knownOrder !== undefined && expectedOrder !== undefined && knownOrder > expectedOrder;
}

/** Creates one half: a Kubernetes lock stores the token as the migration lock raised it. */
function createHalf(
  store: LockStore,
  name: string,
  record: LeaderRecord,
  options: OperationOptions | undefined,
): Promise<Snapshot> {
  return store instanceof KubernetesObjectLock
    ? store.createExactly(name, record, options)
    : store.create(name, record, options);
}

/** `record` with the token the first half stored, so that the second half names the same term. */
function sameToken(record: LeaderRecord, first: Snapshot): LeaderRecord {
  const token = first.record?.leaderTransitions;
  return token === undefined || token === record.leaderTransitions
    ? record
    : { ...record, leaderTransitions: token };
}

function stateAt(sightings: readonly Sighting[], point: bigint): Sighting | undefined {
  return sightings.findLast((sighting) => sighting.point <= point);
}

function maxPoint(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
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
 * conservatively and the next fencing token exceeds both.
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
  readonly primary: LockStore;
  readonly secondary: LockStore;
  #closed = false;

  constructor(options: MigrationLockOptions = {}) {
    const shared: KubernetesLockOptions = {
      ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
      ...(options.kubeConfig === undefined ? {} : { kubeConfig: options.kubeConfig }),
      ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      ...(options.watchTimeoutSeconds === undefined
        ? {}
        : { watchTimeoutSeconds: options.watchTimeoutSeconds }),
    };
    this.primary =
      options.primary ??
      new AnnotationLock({
        ...shared,
        objectKind: options.primaryKind ?? "Endpoints",
        ...(options.coreClient === undefined ? {} : { client: options.coreClient }),
      });
    this.secondary =
      options.secondary ??
      new LeaseLock({
        ...shared,
        ...(options.coordinationClient === undefined ? {} : { client: options.coordinationClient }),
      });
    this.backend = `${this.primary.backend}+${this.secondary.backend}`;
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
    // A half that raised its token on its own (a LockStore that is not a Kubernetes lock) sets it for both.
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
    if (pair === undefined || (pair[0] === null && pair[1] === null)) {
      throw new ConflictError("the lock's version moved (not a version of this migration lock)", {
        backend: this.backend,
        election: name,
        operation: "update",
      });
    }
    // A half this lock already knows to have moved would fail its compare-and-swap after the other
    // half was written: refuse the whole write before touching anything.
    if (movedOn(this.primary, name, pair[0]) || movedOn(this.secondary, name, pair[1])) {
      throw new ConflictError("the lock's version moved", {
        backend: this.backend,
        election: name,
        operation: "update",
      });
    }
    // A missing half is created with the record exactly as given, like the half that is updated: an
    // update stores what the engine asked for, and the two halves must name the same term. The token
    // needs no raising here: the other half exists, and the engine's token is above its tokens (see
    // "Fencing tokens" in the class comment for the one case where that is not enough).
    const write = (store: LockStore, version: string | null, half: LeaderRecord): Promise<Snapshot> =>
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
   * streams are merged by commit point (see {@link PairTimeline}).
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
    const stop = new AbortController();
    const both = AbortSignal.any([signal, stop.signal]);
    type Item = { side: 0 | 1; snapshot: Snapshot | null } | { error: unknown } | { ended: 0 | 1 };
    const queue: Item[] = [];
    let wake: (() => void) | undefined;
    const push = (item: Item): void => {
      queue.push(item);
      wake?.();
    };
    const pump = async (side: 0 | 1, stream: AsyncIterable<Snapshot | null>): Promise<void> => {
      try {
        for await (const snapshot of stream) push({ side, snapshot });
        push({ ended: side });
      } catch (error) {
        push({ error });
      }
    };
    void pump(0, primaryWatch(name, both));
    void pump(1, secondaryWatch(name, both));
    const onAbort = (): void => wake?.();
    signal.addEventListener("abort", onAbort);
    const timeline = new PairTimeline();
    try {
      for (;;) {
        if (signal.aborted) return;
        const item = queue.shift();
        if (item === undefined) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
          continue;
        }
        if ("error" in item) {
          if (signal.aborted) return;
          throw item.error;
        }
        if ("ended" in item) return; // one side ended (aborted): so does the merged stream
        for (const state of timeline.add(item.side, item.snapshot)) yield state;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      stop.abort();
    }
  }

  /** Closes both locks. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([this.primary.close(), this.secondary.close()]);
  }

  /**
   * `record` with its token raised to the floor of both objects (see KubernetesObjectLock.tokenFloor),
   * computed before either write, so that the two halves store the same token and name the same term.
   * Both objects live in one etcd, so either floor is above every token either object ever carried;
   * the larger is used. When one half cannot carry the floor (a Lease, above half its int32 range:
   * see KubernetesObjectLock.raiseToken), the token stays as given for both, and that half warns. A
   * half that is not a Kubernetes lock raises nothing here.
   */
  async #raiseToken(
    name: string,
    record: LeaderRecord,
    options: OperationOptions | undefined,
  ): Promise<LeaderRecord> {
    const locks = [this.primary, this.secondary].filter((store) => store instanceof KubernetesObjectLock);
    if (locks.length === 0) return record;
    const floors = await Promise.all(locks.map((lock) => lock.tokenFloor(name, options)));
    let floor: bigint | undefined;
    for (const candidate of floors) {
      if (candidate !== undefined && (floor === undefined || candidate > floor)) floor = candidate;
    }
    if (floor === undefined) return record;
    const token = Math.min(...locks.map((lock) => lock.raiseToken(name, record, floor).leaderTransitions));
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
    if (this.#closed)
      throw new ClosedError("store closed", { backend: this.backend, election: name, operation });
    // A record only one half can store would be a partial write by construction: refuse it first.
    if (record !== undefined) {
      for (const store of [this.primary, this.secondary]) {
        if (store instanceof KubernetesObjectLock) store.assertWritable(name, record);
      }
    }
  }
}
