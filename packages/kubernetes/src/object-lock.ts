import type { ConfigurationOptions, V1ObjectMeta } from "@kubernetes/client-node";
import type {
  DecodeResult,
  LeaderRecord,
  LockStore,
  LogFields,
  Logger,
  OperationOptions,
  Snapshot,
  StoreCapabilities,
} from "@tenure/core";
import {
  assertValidElectionName,
  ConflictError,
  TenureError,
  toTenureError,
  UnavailableError,
} from "@tenure/core";
import { CallRunner, jsonLines } from "./client.js";
import { apiStatusCode, type CallSite, statusOf } from "./errors.js";

/** The part of a Kubernetes object every lock kind reads. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
}

/** The part of a list answer the token floor reads. */
export interface KubeList {
  metadata?: { resourceVersion?: string };
}

/** Query of a one-object watch. */
export interface WatchQuery {
  readonly fieldSelector: string;
  /** Absent: "start at most recent", which first sends the object as ADDED if it exists. */
  readonly resourceVersion?: string;
  /** With `resourceVersionMatch: "NotOlderThan"`: the current state as events, then a bookmark. */
  readonly sendInitialEvents?: boolean;
  readonly resourceVersionMatch?: string;
  readonly timeoutSeconds: number;
}

/**
 * What differs between the Lease lock and the annotation locks: the API calls (made through the
 * user's or our generated client) and the mapping between a lock record and the object.
 */
export interface ObjectKind<T extends KubeObject> {
  /** Backend name for messages and metrics, e.g. `"kubernetes/lease"`. */
  readonly backend: string;
  /** The resource as RBAC names it, e.g. `"leases.coordination.k8s.io"`. */
  readonly resource: string;
  /** RBAC's apiGroups entry of the resource: `"coordination.k8s.io"`, or `""` for the core group. */
  readonly apiGroup: string;
  /** Where the record's token is stored, for messages, e.g. `"spec.leaseTransitions"`. */
  readonly tokenField: string;
  /** The largest token the object can store (int32 on a Lease, a safe JSON integer in an annotation). */
  readonly maxToken: number;
  read(name: string, namespace: string, options: ConfigurationOptions): Promise<T>;
  create(namespace: string, body: T, options: ConfigurationOptions): Promise<T>;
  replace(name: string, namespace: string, body: T, options: ConfigurationOptions): Promise<T>;
  /** A consistent list (no resourceVersion: "most recent", a quorum read) with the given field selector. */
  list(namespace: string, fieldSelector: string, options: ConfigurationOptions): Promise<KubeList>;
  /** A list call with `watch=true`; its body is taken as a stream by the runner. */
  watch(namespace: string, query: WatchQuery, options: ConfigurationOptions): Promise<unknown>;
  /** The record an object holds, or why it holds none that can be read. */
  decode(object: T): DecodeResult;
  /**
   * The object to write: a new one when `base` is undefined, else `base` with the record put in and
   * everything else kept (labels, other annotations, data), as client-go does.
   */
  encode(base: T | undefined, name: string, namespace: string, record: LeaderRecord): T;
  /** Throws INVALID_ARGUMENT when `record` cannot be stored in this kind of object. */
  validate(record: LeaderRecord, election: string): void;
}

/** Resolved options of an object lock. */
export interface ObjectLockSettings {
  readonly namespace: string;
  readonly requestTimeoutMs: number;
  readonly watchTimeoutSeconds: number;
  readonly logger: Logger | undefined;
}

interface WatchEvent {
  readonly type?: string;
  readonly object?: unknown;
}

/**
 * A LockStore on one Kubernetes object per election, named after the election. The version is
 * `metadata.resourceVersion`; an update is a replace (PUT) carrying the expected resourceVersion,
 * which the apiserver refuses with 409 when the object moved: the compare-and-swap.
 */
export class KubernetesObjectLock<T extends KubeObject> implements LockStore {
  readonly backend: string;
  readonly capabilities: StoreCapabilities = { watch: true, leaseGranularityMs: 1000 };
  /** The namespace the lock objects live in. */
  readonly namespace: string;
  readonly #kind: ObjectKind<T>;
  readonly #runner: CallRunner;
  readonly #watchTimeoutSeconds: number;
  readonly #logger: Logger | undefined;
  /** Warnings already logged by this store (each is logged once per store, not once per create). */
  readonly #warned = new Set<string>();
  /**
   * The last object seen per election. A replace sends the whole object, so it is built on the
   * object the caller's version came from: fields this lock does not own survive. When the caller's
   * version is not the one cached, the object is read first.
   */
  readonly #objects = new Map<string, T>();
  /** The highest resourceVersion handed out per election (see {@link versionOrder}). */
  readonly #highest = new Map<string, bigint>();

  constructor(kind: ObjectKind<T>, settings: ObjectLockSettings) {
    this.backend = kind.backend;
    this.#kind = kind;
    this.namespace = settings.namespace;
    this.#runner = new CallRunner(kind.backend, settings.requestTimeoutMs, settings.logger);
    this.#watchTimeoutSeconds = settings.watchTimeoutSeconds;
    this.#logger = settings.logger;
  }

  /** Throws INVALID_ARGUMENT when `record` cannot be stored under `name` in this kind of object. */
  assertWritable(name: string, record: LeaderRecord): void {
    this.#assertName(name);
    this.#kind.validate(record, name);
  }

  async get(name: string, options?: OperationOptions): Promise<Snapshot | null> {
    this.#assertName(name);
    const before = this.#highest.get(name);
    const object = await this.#read(name, "get", options?.signal);
    if (object !== null) return this.#newest(name, this.#remember(name, object), before);
    // Absent, unless this store saw the object (its watch, its own write) while the read was out.
    if (this.#highest.get(name) !== before) return this.newestKnown(name) ?? null;
    this.#objects.delete(name);
    return null;
  }

  /**
   * The newest state of the lock this store has seen, from its own writes, its reads and its watch
   * (undefined when it has seen none, or saw it disappear). A read that was overtaken while it was on
   * its way is answered with this instead, so a caller never acts on a state older than one it could
   * have known; the migration lock also uses it to refuse a doomed half-write.
   */
  newestKnown(name: string): Snapshot | undefined {
    const cached = this.#objects.get(name);
    const version = cached?.metadata?.resourceVersion;
    return cached === undefined || version === undefined ? undefined : this.#snapshotOf(cached, version);
  }

  /**
   * Creates the object, with the record's token raised above every token the lock ever carried, so
   * that a lock deleted (`kubectl delete`, a Helm reinstall) and created again never repeats a
   * fencing token (see {@link tokenFloor} for how, and for the cases where it cannot).
   */
  async create(name: string, record: LeaderRecord, options?: OperationOptions): Promise<Snapshot> {
    this.#assertName(name);
    this.#kind.validate(record, name);
    this.#runner.assertOpen(name, "create");
    const floor = await this.tokenFloor(name, options);
    return this.createExactly(name, this.raiseToken(name, record, floor), options);
  }

  /**
   * Creates the object with `record` exactly as given, its token included. For callers that raised
   * the token themselves: the migration lock raises it once for both of its objects, so that they
   * name the same term.
   */
  async createExactly(name: string, record: LeaderRecord, options?: OperationOptions): Promise<Snapshot> {
    this.#assertName(name);
    this.#kind.validate(record, name);
    const body = this.#kind.encode(undefined, name, this.namespace, record);
    const created = await this.#runner.run(this.#site(name, "create", "create"), options?.signal, (call) =>
      this.#kind.create(this.namespace, body, call),
    );
    return this.#remember(name, created);
  }

  /**
   * The smallest token a new term of `name` may carry if it is to exceed every token the object ever
   * carried, even one deleted since: one more than the resourceVersion of a consistent list of the
   * object's collection, restricted to the one object (`fieldSelector=metadata.name=<name>`, which
   * RBAC authorizes against `resourceNames`). Why that is enough:
   *
   * - A list without `resourceVersion` is "most recent": a quorum read, and its resourceVersion is
   *   the etcd revision it was served at, at least the revision of every write committed before it —
   *   every write the deleted object ever had included.
   * - Every term's token is at most the resourceVersion of the write that started it (this create
   *   raises the first one above the list's revision, and the write that lands it commits later;
   *   every later term adds one to the token and commits at a higher revision). So every token the
   *   object ever carried is at most this list's resourceVersion.
   * - resourceVersions of one resource compare as integers: since Kubernetes 1.35 (KEP-5504) every
   *   in-tree resourceVersion is a decimal integer, increasing with each write, and the conformance
   *   suite checks it. (The API conventions still say "opaque"; an apiserver that serves something
   *   else gets no floor and a warning.)
   *
   * Resolves `undefined` — the create keeps the caller's token, and a warning is logged once per
   * store — when no floor can be had: the Role does not allow `list` (RBAC granted before this was
   * needed), or the resourceVersion is not a decimal integer. Other failures reject as any call does.
   */
  async tokenFloor(name: string, options?: OperationOptions): Promise<bigint | undefined> {
    this.#assertName(name);
    const fieldSelector = `metadata.name=${name}`;
    let list: KubeList;
    try {
      list = await this.#runner.run(this.#site(name, "create", "list"), options?.signal, (call) =>
        this.#kind.list(this.namespace, fieldSelector, call),
      );
    } catch (error) {
      if (!(TenureError.is(error, "PERMISSION_DENIED") && isForbidden(error))) throw error;
      this.#warnOnce(
        "list-forbidden",
        `cannot list ${this.#kind.resource} in namespace "${this.namespace}" (fieldSelector ${fieldSelector}): ` +
          `without it, a lock that was deleted and is created again may repeat a fencing token (${this.#kind.tokenField}). ` +
          `Add "list" to the Role rule that grants get, update and watch on resourceNames ["${name}"] ` +
          `(apiGroups ["${this.#kind.apiGroup}"], resources ["${this.#kind.resource.split(".")[0]}"]); see the @tenure/kubernetes README, "RBAC"`,
        {
          election: name,
          namespace: this.namespace,
          cause: error instanceof Error ? error.message : String(error),
        },
      );
      return undefined;
    }
    const version = list.metadata?.resourceVersion ?? "";
    const order = versionOrder(version);
    if (order === undefined) {
      this.#warnOnce(
        "version-not-integer",
        `the apiserver's resourceVersion ${JSON.stringify(version)} is not a decimal integer, so a lock that was deleted and is created again may repeat a fencing token`,
        { election: name, namespace: this.namespace },
      );
      return undefined;
    }
    return order + 1n;
  }

  /**
   * `record` with its token raised to `floor` when it is lower. The floor is carried only up to half
   * the range the object can store ({@link maxFloor}): a token raised close to the top would leave
   * the lock only a few terms before the next one no longer fits (a Lease's `leaseTransitions` is an
   * int32; client-go's `+1` would even wrap to a negative number the apiserver refuses), turning a
   * fencing promise into an election that can no longer change leader. Above that, the token stays as
   * it is, with a warning once per store: it is then no longer above every token of a deleted and
   * recreated lock. On a Lease that happens once the etcd revision passes 2^30 (about a billion
   * writes in the cluster's life); the annotation record, a JSON number, carries floors up to 2^52.
   */
  raiseToken(name: string, record: LeaderRecord, floor: bigint | undefined): LeaderRecord {
    if (floor === undefined || BigInt(record.leaderTransitions) >= floor) return record;
    if (floor > BigInt(this.maxFloor)) {
      this.#warnOnce(
        "token-limit",
        `the apiserver's resourceVersion (${floor - 1n}) is too large to raise ${this.#kind.tokenField} above it and still leave room for new terms (it holds at most ${this.#kind.maxToken}; floors are carried up to ${this.maxFloor}), so a lock that was deleted and is created again may repeat a fencing token`,
        { election: name, namespace: this.namespace },
      );
      return record;
    }
    return { ...record, leaderTransitions: Number(floor) };
  }

  /**
   * The largest floor a create raises a token to: half the range the object can store, so that a
   * raised lock keeps at least as many terms ahead of it as there are below it.
   */
  get maxFloor(): number {
    return Math.floor(this.#kind.maxToken / 2);
  }

  async update(
    name: string,
    record: LeaderRecord,
    expectedVersion: string,
    options?: OperationOptions,
  ): Promise<Snapshot> {
    this.#assertName(name);
    this.#kind.validate(record, name);
    this.#runner.assertOpen(name, "update");
    let base = this.#objects.get(name);
    if (base?.metadata?.resourceVersion !== expectedVersion) {
      // Not the object we last saw: read it, so the replace keeps its other fields. A version that
      // moved is a lost race, and is reported without writing.
      base = (await this.#read(name, "update", options?.signal)) ?? undefined;
      if (base === undefined) throw this.#conflict(name, "the lock does not exist");
      this.#remember(name, base);
      if (base.metadata?.resourceVersion !== expectedVersion) {
        throw this.#conflict(name, "the lock's version moved");
      }
    }
    const encoded = this.#kind.encode(base, name, this.namespace, record);
    const body: T = { ...encoded, metadata: { ...encoded.metadata, resourceVersion: expectedVersion } };
    const updated = await this.#runner.run(this.#site(name, "update", "update"), options?.signal, (call) =>
      this.#kind.replace(name, this.namespace, body, call),
    );
    return this.#remember(name, updated);
  }

  /**
   * Watches the one object (fieldSelector `metadata.name=<name>`).
   *
   * - The object exists: its current state comes from a get and is reported at once; the watch
   *   starts at that resourceVersion, so every later change arrives, however late the stream opens.
   * - It does not: there is no resourceVersion to start from, so the stream establishes the state
   *   itself (`sendInitialEvents`, the apiserver's consistent "initial events, then a bookmark,
   *   then changes"), and the state is reported when the bookmark says the initial events are over.
   *   An apiserver that refuses that (before 1.27, or with the WatchList feature off) gets a watch
   *   "at most recent", which reports the object as ADDED if it appeared meanwhile.
   *
   * A stream the server ends (its timeout) is reopened from the last resourceVersion; one that
   * expired (410) is resumed after a fresh read. One that ends early without any event throws
   * UNAVAILABLE instead of reopening (see the end of the loop). Opening is bounded by the idle limit
   * (watchTimeoutSeconds plus the request timeout), not the request timeout alone.
   */
  async *watch(name: string, signal: AbortSignal): AsyncIterable<Snapshot | null> {
    this.#assertName(name);
    this.#runner.assertOpen(name, "watch");
    const site = this.#site(name, "watch", "watch");
    const idleMs = this.#watchTimeoutSeconds * 1000 + this.#runner.timeoutMs;
    let highestBefore = this.#highest.get(name);
    let initial: T | null;
    try {
      initial = await this.#read(name, "watch", signal);
    } catch (error) {
      if (signal.aborted || this.#runner.closed) return; // an abort ends the watch; it is no failure
      throw error;
    }
    let resourceVersion = initial?.metadata?.resourceVersion;
    /** Version of the last state reported (null: absent; undefined: nothing reported yet). */
    let last: string | null | undefined;
    /** A state to report before anything the next stream brings. */
    const pending: (Snapshot | null)[] = [];
    if (initial !== null) {
      const snapshot = this.#newest(name, this.#remember(name, initial), highestBefore);
      last = snapshot?.version ?? null;
      yield snapshot;
    }
    let initialEvents = initial === null;
    /** The previous stream ended early without any event (see the end of the loop). */
    let previousWasEmpty = false;

    while (!signal.aborted && !this.#runner.closed) {
      const idle = new AbortController();
      const control = this.#runner.control(AbortSignal.any([signal, idle.signal]), undefined);
      let timer = setTimeout(() => idle.abort(), idleMs);
      const quietFor = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(), idleMs);
      };
      const openedAt = performance.now();
      /** The stream brought an event (a change, a deletion, a bookmark): the server is serving it. */
      let progressed = false;
      /** The server said the resourceVersion is too old to resume from (410). */
      let expired = false;
      try {
        const query: WatchQuery = {
          fieldSelector: `metadata.name=${name}`,
          timeoutSeconds: this.#watchTimeoutSeconds,
          ...(initialEvents
            ? { sendInitialEvents: true, resourceVersionMatch: "NotOlderThan" }
            : resourceVersion === undefined
              ? {}
              : { resourceVersion }),
        };
        let stream: ReadableStream<Uint8Array>;
        try {
          stream = await this.#runner.openStream(site, control, (call) =>
            this.#kind.watch(this.namespace, query, call),
          );
        } catch (error) {
          if (!initialEvents || !refusesInitialEvents(error)) throw error;
          // No initial events on this apiserver: report the absence read above and watch from now.
          initialEvents = false;
          if (last === undefined) pending.push(null);
          continue;
        }
        for (const pendingState of pending.splice(0)) {
          const snapshot = this.#newest(name, pendingState, highestBefore);
          if ((snapshot?.version ?? null) === last) continue;
          last = snapshot?.version ?? null;
          yield snapshot;
        }
        /** The object the initial events named, until their end is announced. */
        let initialObject: T | null = null;
        for await (const line of jsonLines(stream, quietFor)) {
          const event = line as WatchEvent;
          const object = event.object as T | undefined;
          const version = object?.metadata?.resourceVersion;
          if (event.type !== "ERROR") progressed = true;
          if (event.type === "ADDED" || event.type === "MODIFIED") {
            if (object === undefined || version === undefined) continue;
            resourceVersion = version;
            if (initialEvents) {
              initialObject = object;
              continue;
            }
            if (version === last || this.#isStale(name, version)) continue;
            last = version;
            yield this.#remember(name, object);
          } else if (event.type === "DELETED") {
            if (version !== undefined) resourceVersion = version;
            if (initialEvents) {
              initialObject = null;
              continue;
            }
            if (last === null || this.#isStale(name, version)) continue;
            this.#objects.delete(name);
            last = null;
            yield null;
          } else if (event.type === "BOOKMARK") {
            if (version !== undefined) resourceVersion = version;
            if (initialEvents && object?.metadata?.annotations?.["k8s.io/initial-events-end"] === "true") {
              initialEvents = false;
              // The state at the bookmark, unless this store saw a newer one meanwhile (its own write).
              const snapshot = this.#newest(
                name,
                initialObject === null ? null : this.#remember(name, initialObject),
                highestBefore,
              );
              if ((snapshot?.version ?? null) === last) continue;
              last = snapshot?.version ?? null;
              yield snapshot;
            }
          } else if (event.type === "ERROR") {
            const status = statusOf(event.object);
            if (status.code !== 410) {
              throw new UnavailableError(
                `the watch failed: ${status.message ?? JSON.stringify(event.object)}`,
                {
                  backend: this.backend,
                  election: name,
                  operation: "watch",
                },
              );
            }
            expired = true;
            break;
          }
        }
        // The stream ended: the server's timeout (timeoutSeconds) ran out, or it ended the stream
        // early — a proxy or load balancer cutting long requests, an apiserver shutting down (it ends
        // every watch at once and asks clients to come back later), a watch cache re-initializing —
        // or the resourceVersion expired.
        //
        // A stream that ended early without bringing anything is a break, not a timeout: reopening
        // it at once could turn into a tight loop of requests (a proxy that ends every watch at once
        // never lets one last). It is reported as UNAVAILABLE, and the engine watches again after its
        // retry period (starting with a read, so nothing is missed): the backoff and its bound are the
        // engine's, the same as for any other break, and the operator sees the break in the
        // elector's warnings instead of a silent loop. A stream that brought events made progress,
        // and one that lasted its timeout is the normal end of an idle watch: both reopen at once,
        // which costs at most one request per event or per timeout. (The apiserver ends an idle watch
        // exactly timeoutSeconds after it received it; measured here from before the request, the
        // stream lasts at least that long, and the 10 % slack absorbs timer granularity.)
        const endedEarly = performance.now() - openedAt < this.#watchTimeoutSeconds * 900;
        const empty = !progressed && endedEarly;
        // A 410 is answered by a read and a new stream at once; twice in a row without progress is a break.
        if (empty && (!expired || previousWasEmpty) && !signal.aborted && !this.#runner.closed) {
          throw new UnavailableError(
            `the watch stream ended after ${Math.round(performance.now() - openedAt)} ms without any event, before its ${this.#watchTimeoutSeconds} s timeout (the apiserver is shutting down, or a proxy in front of it ends long requests)`,
            {
              backend: this.backend,
              election: name,
              operation: "watch",
              remedy:
                "the elector watches again after its retry period; if this repeats, check proxies and load balancers between this process and the apiserver, or lower watchTimeoutSeconds below their idle timeout",
            },
          );
        }
        previousWasEmpty = empty;
        if (expired) {
          // Too old to resume: read the current state and watch on from it.
          highestBefore = this.#highest.get(name);
          const current = await this.#read(name, "watch", signal);
          resourceVersion = current?.metadata?.resourceVersion;
          initialEvents = current === null;
          if (current !== null) pending.push(this.#remember(name, current));
        }
      } catch (error) {
        if (signal.aborted || this.#runner.closed) return;
        if (idle.signal.aborted) {
          throw new UnavailableError(`the watch stream was silent for ${idleMs} ms`, {
            backend: this.backend,
            election: name,
            operation: "watch",
            cause: error,
          });
        }
        if (TenureError.is(error)) throw error;
        throw new UnavailableError(
          `the watch stream broke: ${error instanceof Error ? error.message : String(error)}`,
          { backend: this.backend, election: name, operation: "watch", cause: error },
        );
      } finally {
        clearTimeout(timer);
        control.dispose();
        idle.abort(); // closes the connection when the consumer stops early
      }
    }
  }

  async close(): Promise<void> {
    this.#runner.close();
    this.#objects.clear();
  }

  /** Reads the object, or null when it does not exist. */
  async #read(name: string, operation: string, signal: AbortSignal | undefined): Promise<T | null> {
    return this.#runner.run(this.#site(name, operation, "get"), signal, (call) =>
      this.#kind.read(name, this.namespace, call).catch((error: unknown) => {
        if (apiStatusCode(error) === 404) return null;
        throw error;
      }),
    );
  }

  #remember(name: string, object: T): Snapshot {
    const version = object.metadata?.resourceVersion;
    if (version === undefined || version === "") {
      throw toTenureError(new Error("the apiserver returned an object without metadata.resourceVersion"), {
        backend: this.backend,
        election: name,
      });
    }
    const order = versionOrder(version);
    const highest = this.#highest.get(name);
    // The cache keeps the newest object seen: a late read or event must not replace a newer write.
    if (order === undefined || highest === undefined || order >= highest) this.#objects.set(name, object);
    if (order !== undefined && (highest === undefined || order > highest)) this.#highest.set(name, order);
    return this.#snapshotOf(object, version);
  }

  #snapshotOf(object: T, version: string): Snapshot {
    const decoded = this.#kind.decode(object);
    return "record" in decoded
      ? { version, record: decoded.record }
      : { version, record: null, corruption: decoded.corruption };
  }

  /**
   * Whether a state the watch is about to report is older than one this store has already handed
   * out (from a write or a read that overtook the stream). Reporting it would tell a leader that
   * someone else holds the lock when that is no longer true.
   */
  /**
   * What the watch should report as the current state, given the state it read: that state, unless
   * this store has since handed out a newer one (its own write, typically, racing the watch's start),
   * which is then reported instead; the stream's older events are skipped as stale after it.
   */
  #newest(name: string, read: Snapshot | null, highestBefore: bigint | undefined): Snapshot | null {
    const overtaken =
      read === null ? this.#highest.get(name) !== highestBefore : this.#isStale(name, read.version);
    if (!overtaken) return read;
    return this.newestKnown(name) ?? read;
  }

  #isStale(name: string, version: string | undefined): boolean {
    const order = version === undefined ? undefined : versionOrder(version);
    const highest = this.#highest.get(name);
    return order !== undefined && highest !== undefined && order < highest;
  }

  #warnOnce(key: string, message: string, fields: LogFields): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#logger?.warn(message, { backend: this.backend, ...fields });
  }

  #site(election: string, operation: string, verb: string): CallSite {
    return {
      backend: this.backend,
      election,
      operation,
      verb,
      resource: this.#kind.resource,
      namespace: this.namespace,
    };
  }

  #assertName(name: string): void {
    assertValidElectionName(name, { backend: this.backend });
  }

  #conflict(name: string, problem: string): ConflictError {
    return new ConflictError(problem, { backend: this.backend, election: name, operation: "update" });
  }
}

/**
 * The commit order of a resourceVersion, when it has one. The API conventions call resourceVersion
 * opaque; every etcd-backed apiserver uses the etcd revision, a decimal integer, which orders
 * commits. A version that is not one is never compared (nothing is then treated as stale).
 */
export function versionOrder(version: string): bigint | undefined {
  return /^\d{1,30}$/.test(version) ? BigInt(version) : undefined;
}

/** Whether a PERMISSION_DENIED error is the apiserver's 403 (RBAC said no), not a 401 (credentials refused). */
function isForbidden(error: TenureError): boolean {
  return apiStatusCode(error.cause) === 403;
}

/** Whether an apiserver refused a watch with `sendInitialEvents` (an older or differently configured one). */
function refusesInitialEvents(error: unknown): boolean {
  const cause = error instanceof Error ? error.cause : undefined;
  const status = apiStatusCode(cause);
  return status === 400 || status === 422;
}
