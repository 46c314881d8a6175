import type {
  LeaderRecord,
  LockStore,
  LogFields,
  Logger,
  OperationOptions,
  Snapshot,
  StoreCapabilities,
} from "@tenure/core";
import { ConflictError, TenureError } from "@tenure/core";
import { assertValidElectionName, StoreLifecycle } from "@tenure/core/adapter";
import { ApiCalls, type ObjectLockSettings } from "./client.js";
import { apiStatusCode, type CallSite } from "./errors.js";
import { NamespaceWatch, type NamespaceWatchSource } from "./namespace-watch.js";
import { NewestStates, versionOrder } from "./newest-state.js";
import type { KubeList, KubeObject, ObjectKind } from "./object-kind.js";
import { ObjectWatch, type WatchSource } from "./object-watch.js";

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
  readonly #lifecycle: StoreLifecycle;
  readonly #calls: ApiCalls;
  readonly #logger: Logger | undefined;
  /**
   * The newest state seen per election. A replace is built on the object the caller's version came
   * from (read first when it is not the one cached), so fields this lock does not own survive; and
   * no read or watch event older than a state this store handed out is reported as current.
   */
  readonly #states: NewestStates<T>;
  readonly #watchSource: WatchSource<T>;
  /** The source of the shared namespace watch; undefined when this lock watches per name. */
  readonly #namespaceSource: NamespaceWatchSource<T> | undefined;
  /** The shared namespace watch in use, if any (replaced when it stops or breaks). */
  #namespaceWatch: NamespaceWatch<T> | undefined;
  /** The apiserver refused the namespace watch (403): this store watches per name from then on. */
  #namespaceWatchRefused = false;
  /** Warnings already logged by this store (each is logged once per store, not once per create). */
  readonly #warned = new Set<string>();

  constructor(kind: ObjectKind<T>, settings: ObjectLockSettings) {
    this.backend = kind.backend;
    this.#kind = kind;
    this.namespace = settings.namespace;
    this.#lifecycle = new StoreLifecycle(kind.backend);
    this.#calls = new ApiCalls(
      kind.backend,
      settings.requestTimeoutMs,
      settings.logger,
      this.#lifecycle.signal,
    );
    this.#logger = settings.logger;
    this.#states = new NewestStates(kind);
    const idleMs = settings.watchTimeoutSeconds * 1000 + settings.requestTimeoutMs;
    this.#watchSource = {
      backend: kind.backend,
      states: this.#states,
      watchTimeoutSeconds: settings.watchTimeoutSeconds,
      idleMs,
      closed: () => this.#lifecycle.closed,
      read: (name, signal) => this.#read(name, "watch", signal),
      open: (name, query, signal) =>
        this.#calls.openStream(this.#site(name, "watch", "watch"), signal, idleMs, (options) =>
          kind.calls.list(
            { namespace: this.namespace, watch: true, allowWatchBookmarks: true, ...query },
            options,
          ),
        ),
    };
    this.#namespaceSource =
      kind.namespaceWatch === true && settings.sharedWatch
        ? {
            backend: kind.backend,
            states: this.#states,
            watchTimeoutSeconds: settings.watchTimeoutSeconds,
            idleMs,
            closed: () => this.#lifecycle.closed,
            read: (name, signal) => this.#read(name, "watch", signal),
            open: (query, signal) =>
              this.#calls.openStream(this.#site("*", "watch", "watch"), signal, idleMs, (options) =>
                kind.calls.list(
                  { namespace: this.namespace, watch: true, allowWatchBookmarks: true, ...query },
                  options,
                ),
              ),
          }
        : undefined;
  }

  /** Throws INVALID_ARGUMENT when `record` cannot be stored under `name` in this kind of object. */
  assertWritable(name: string, record: LeaderRecord): void {
    this.#assertName(name);
    this.#kind.validate(record, name);
  }

  async get(name: string, options?: OperationOptions): Promise<Snapshot | null> {
    this.#assertName(name);
    this.#lifecycle.assertOpen({ election: name, operation: "get" });
    const before = this.#states.highest(name);
    const object = await this.#read(name, "get", options?.signal);
    if (object !== null) return this.#states.newest(name, this.#states.remember(name, object), before);
    // Absent, unless this store saw the object (its watch, its own write) while the read was out.
    if (this.#states.highest(name) !== before) return this.newestKnown(name) ?? null;
    this.#states.forget(name);
    return null;
  }

  /**
   * The newest state of the lock this store has seen, from its own writes, its reads and its watch
   * (undefined when it has seen none, or saw it disappear). A read that was overtaken while it was on
   * its way is answered with this instead, so a caller never acts on a state older than one it could
   * have known; the migration lock also uses it to refuse a doomed half-write (see MigrationHalf).
   */
  newestKnown(name: string): Snapshot | undefined {
    return this.#states.known(name);
  }

  /**
   * Creates the object, with the record's token raised above every token the lock ever carried, so
   * that a lock deleted (`kubectl delete`, a Helm reinstall) and created again never repeats a
   * fencing token (see {@link tokenFloor} for how, and for the cases where it cannot).
   */
  async create(name: string, record: LeaderRecord, options?: OperationOptions): Promise<Snapshot> {
    this.assertWritable(name, record);
    this.#lifecycle.assertOpen({ election: name, operation: "create" });
    const floor = await this.tokenFloor(name, options);
    return this.createExactly(name, this.raiseToken(name, record, floor), options);
  }

  /**
   * Creates the object with `record` exactly as given, its token included. For callers that raised
   * the token themselves: the migration lock raises it once for both of its objects, so that they
   * name the same term.
   */
  async createExactly(name: string, record: LeaderRecord, options?: OperationOptions): Promise<Snapshot> {
    this.assertWritable(name, record);
    this.#lifecycle.assertOpen({ election: name, operation: "create" });
    const body = this.#kind.encode(undefined, name, this.namespace, record);
    const created = await this.#calls.run(this.#site(name, "create", "create"), options?.signal, (call) =>
      this.#kind.calls.create({ namespace: this.namespace, body }, call),
    );
    return this.#states.remember(name, created);
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
    this.#lifecycle.assertOpen({ election: name, operation: "create" });
    const fieldSelector = `metadata.name=${name}`;
    let list: KubeList;
    try {
      list = await this.#calls.run(this.#site(name, "create", "list"), options?.signal, (call) =>
        this.#kind.calls.list({ namespace: this.namespace, fieldSelector }, call),
      );
    } catch (error) {
      if (!(TenureError.is(error, "PERMISSION_DENIED") && apiStatusCode(error.cause) === 403)) throw error;
      // RBAC said no (a 403, not a 401: the credentials were accepted).
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

  /** A replace carrying `expectedVersion`: the apiserver refuses it with 409 when the object moved. */
  async update(name: string, record: LeaderRecord, expectedVersion: string, options?: OperationOptions) {
    this.assertWritable(name, record);
    this.#lifecycle.assertOpen({ election: name, operation: "update" });
    const base = await this.#base(name, expectedVersion, options?.signal);
    const encoded = this.#kind.encode(base, name, this.namespace, record);
    const body: T = { ...encoded, metadata: { ...encoded.metadata, resourceVersion: expectedVersion } };
    const updated = await this.#calls.run(this.#site(name, "update", "update"), options?.signal, (call) =>
      this.#kind.calls.replace({ name, namespace: this.namespace, body }, call),
    );
    return this.#states.remember(name, updated);
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
   * UNAVAILABLE instead of reopening (see ObjectWatch). Opening is bounded by the idle limit
   * (watchTimeoutSeconds plus the request timeout), not the request timeout alone.
   */
  async *watch(name: string, signal: AbortSignal): AsyncIterable<Snapshot | null> {
    this.#assertName(name);
    this.#lifecycle.assertOpen({ election: name, operation: "watch" });
    const source = this.#namespaceSource;
    if (source === undefined || this.#namespaceWatchRefused) {
      yield* new ObjectWatch(this.#watchSource, name, signal).run();
      return;
    }
    let shared = this.#namespaceWatch;
    if (shared === undefined || !shared.usable) {
      const created: NamespaceWatch<T> = new NamespaceWatch(source, () => {
        if (this.#namespaceWatch === created) this.#namespaceWatch = undefined;
      });
      this.#namespaceWatch = created;
      shared = created;
    }
    const member = shared.join(name);
    try {
      try {
        await member.ready(signal);
      } catch (error) {
        if (signal.aborted || this.#lifecycle.closed) return;
        if (!TenureError.is(error) || error.code !== "PERMISSION_DENIED") throw error;
        this.#namespaceWatchRefused = true;
        this.#warnOnce(
          "namespace-watch-refused",
          `the apiserver refused a watch of all ${this.#kind.resource} in namespace "${this.namespace}" (RBAC grants watch on the lock names only): each election is watched over a stream of its own`,
          {
            namespace: this.namespace,
            remedy: `grant "watch" on ${this.#kind.resource} in the namespace without resourceNames to share one stream, or pass sharedWatch: false`,
          },
        );
        member.leave();
        yield* new ObjectWatch(this.#watchSource, name, signal).run();
        return;
      }
      yield* member.follow(signal);
    } finally {
      member.leave();
    }
  }

  /** Whether the store's watches currently share a namespace watch (for tests and diagnostics). */
  get sharingWatch(): boolean {
    return this.#namespaceWatch?.usable === true;
  }

  async close(): Promise<void> {
    this.#lifecycle.close();
    this.#namespaceWatch?.stop();
    this.#states.clear();
  }

  /**
   * The object an update replaces: the one the caller's version came from. When it is not the one
   * cached, it is read, so the replace keeps its other fields; a version that moved (or was never
   * handed out) is a lost race, reported without writing.
   */
  async #base(name: string, expectedVersion: string, signal: AbortSignal | undefined): Promise<T> {
    const cached = this.#states.object(name);
    if (cached?.metadata?.resourceVersion === expectedVersion) return cached;
    const current = await this.#read(name, "update", signal);
    const conflict = (problem: string) =>
      new ConflictError(problem, { backend: this.backend, election: name, operation: "update" });
    if (current === null) throw conflict("the lock does not exist");
    this.#states.remember(name, current);
    if (current.metadata?.resourceVersion !== expectedVersion) throw conflict("the lock's version moved");
    return current;
  }

  /** Reads the object, or null when it does not exist. */
  #read(name: string, operation: string, signal: AbortSignal | undefined): Promise<T | null> {
    return this.#calls.run(this.#site(name, operation, "get"), signal, (call) =>
      this.#kind.calls.read({ name, namespace: this.namespace }, call).catch((error: unknown) => {
        if (apiStatusCode(error) === 404) return null;
        throw error;
      }),
    );
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
}
