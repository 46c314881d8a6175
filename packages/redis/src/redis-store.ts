import type { ConnectionOptions } from "node:tls";
import type { LeaderRecord, LockStore, OperationOptions, Snapshot, StoreCapabilities } from "@tenure/core";
import { ConflictError, InvalidArgumentError } from "@tenure/core";
import {
  assertValidElectionName,
  assertValidRecord,
  encodeRecord,
  exclusive,
  positiveMs,
  StoreLifecycle,
} from "@tenure/core/adapter";
import { type IoRedisClient, isIoRedisClient, RedisConnection } from "./connection.js";
import { type ElectionKeys, electionKeys } from "./keys.js";
import { CREATE, READ, UPDATE } from "./scripts.js";
import {
  isNil,
  NewestSnapshots,
  readSnapshot,
  splitToken,
  TOMBSTONE_PREFIX,
  writtenSnapshot,
} from "./snapshots.js";
import { type WatchedStore, watchElection } from "./watch.js";

const BACKEND = "redis";

/** Default {@link RedisLockStoreOptions.keyPrefix}. */
export const DEFAULT_KEY_PREFIX = "tenure";
/** Default {@link RedisLockStoreOptions.requestTimeoutMs}. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 2000;
/** Default {@link RedisLockStoreOptions.watchHeartbeatMs}. */
export const DEFAULT_WATCH_HEARTBEAT_MS = 5000;

/** Options of {@link RedisLockStore}. Pass either `client` or connection settings, not both. */
export interface RedisLockStoreOptions {
  /**
   * An ioredis client (standalone `Redis` or `Cluster`, ioredis 5 or 6) to use instead of opening a
   * connection. The store never closes it. Its own options (offline queue, retries) are left as they
   * are; every call is still bounded by `requestTimeoutMs`. Watches subscribe on one duplicate of it
   * (one per master on a Cluster), shared by all the store's watches and closed when the last ends.
   */
  readonly client?: IoRedisClient;
  /** `redis://[user:password@]host:port[/db]`, or `rediss://…` for TLS. Default: `host` and `port`. */
  readonly url?: string;
  /** Server host. Default `127.0.0.1`. */
  readonly host?: string;
  /** Server port. Default 6379. */
  readonly port?: number;
  /** ACL user name (Redis 6+). Default: the `default` user. */
  readonly username?: string;
  /** Password for AUTH (with `username`: the ACL user's password). Default: none. */
  readonly password?: string;
  /** Database index. Default 0. (Redis Cluster only has database 0.) */
  readonly db?: number;
  /** TLS: `true` for the system's CAs, or Node `tls.connect` options (ca, cert, key, servername, …). Default off. */
  readonly tls?: boolean | ConnectionOptions;
  /**
   * Prefix of every key and channel: `<prefix>:{<election>}:lock`, `…:version`, `…:changes`.
   * Must not contain `{` or `}` (the election name is the Redis Cluster hash tag). Default `"tenure"`.
   */
  readonly keyPrefix?: string;
  /**
   * Longest a call may take, waiting for a connection included, before it rejects with UNAVAILABLE.
   * Also the connect timeout and ioredis's `commandTimeout` on connections the store opens. Default 2000.
   */
  readonly requestTimeoutMs?: number;
  /**
   * How often the store pings its shared subscriber connection while watches use it, so that a
   * silently dead link (a dropped network path sends no reset) breaks its watches within this plus
   * `requestTimeoutMs` instead of never. `0` turns it off. Default 5000.
   */
  readonly watchHeartbeatMs?: number;
  /** `CLIENT SETNAME` of connections the store opens, to find them in `CLIENT LIST`. Default `"tenure"`. */
  readonly connectionName?: string;
}

/** The connection settings a `client` passed in replaces. */
const CONNECTION_SETTINGS = ["url", "host", "port", "username", "password", "db", "tls"] as const;

/**
 * A {@link LockStore} on Redis (standalone or Cluster) through ioredis.
 *
 * Each election is a hash `<prefix>:{<election>}:lock` holding the record JSON (`encodeRecord`) and
 * its version, plus a version counter key. Create and update are Lua scripts that compare and write
 * in one atomic step on the server and publish the new snapshot to `<prefix>:{<election>}:changes`,
 * which `watch()` follows. See README.md, "Safety", for what Redis does and does not guarantee.
 */
export class RedisLockStore implements LockStore {
  readonly backend = BACKEND;
  readonly capabilities: StoreCapabilities = { watch: true, leaseGranularityMs: 1 };
  /** The key prefix in use. */
  readonly keyPrefix: string;
  /** The per-call time limit in use. */
  readonly requestTimeoutMs: number;
  readonly #lifecycle = new StoreLifecycle(BACKEND);
  readonly #connection: RedisConnection;
  /** The newest snapshot of each election this store returned: a watch yields nothing older. */
  readonly #newest = new NewestSnapshots();
  readonly #watched: WatchedStore;

  /** Validates the options (throws INVALID_ARGUMENT naming the field) and prepares the connection. */
  constructor(options: RedisLockStoreOptions = {}) {
    const context = { backend: BACKEND };
    const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    if (typeof keyPrefix !== "string" || /[{}]/.test(keyPrefix)) {
      throw new InvalidArgumentError(
        "keyPrefix",
        "must be a string without '{' or '}' (the election name is the cluster hash tag)",
        context,
      );
    }
    this.keyPrefix = keyPrefix;
    this.requestTimeoutMs = positiveMs(
      "requestTimeoutMs",
      options.requestTimeoutMs,
      DEFAULT_REQUEST_TIMEOUT_MS,
      context,
    );
    const heartbeatMs =
      options.watchHeartbeatMs === 0
        ? 0
        : positiveMs("watchHeartbeatMs", options.watchHeartbeatMs, DEFAULT_WATCH_HEARTBEAT_MS, context);
    // A record for the kit's `exclusive` (an interface has no index signature).
    const given: Readonly<Record<string, unknown>> = { ...options };
    for (const field of CONNECTION_SETTINGS) exclusive(given, ["client", field], context);
    for (const field of ["host", "port"]) exclusive(given, ["url", field], context);
    if (options.client !== undefined && !isIoRedisClient(options.client)) {
      throw new InvalidArgumentError(
        "client",
        "must be an ioredis (5 or 6) Redis or Cluster instance",
        context,
      );
    }
    this.#connection = new RedisConnection({
      client: options.client,
      settings: options,
      requestTimeoutMs: this.requestTimeoutMs,
      keyPrefix,
      lifecycle: this.#lifecycle,
      heartbeatMs,
    });
    this.#watched = {
      backend: BACKEND,
      connection: this.#connection,
      lifecycle: this.#lifecycle,
      newest: this.#newest,
      keyPrefix,
      read: (election, signal) => this.get(election, { signal }),
    };
  }

  /** The names this store uses for `election` (for operators and tests reading Redis directly). */
  keys(election: string): ElectionKeys {
    assertValidElectionName(election, { backend: BACKEND });
    return electionKeys(this.keyPrefix, election);
  }

  async get(name: string, options?: OperationOptions): Promise<Snapshot | null> {
    assertValidElectionName(name, { backend: BACKEND });
    const keys = electionKeys(this.keyPrefix, name);
    const context = { backend: BACKEND, election: name, operation: "get" };
    const reply = await this.#connection.call(context, options, () =>
      this.#connection.script(READ, true, [keys.lock, keys.counter], [], context),
    );
    const snapshot = readSnapshot(reply, context);
    if (snapshot !== null) this.#newest.note(name, snapshot);
    return snapshot;
  }

  async create(name: string, record: LeaderRecord, options?: OperationOptions): Promise<Snapshot> {
    assertValidElectionName(name, { backend: BACKEND });
    assertValidRecord(record, { backend: BACKEND, election: name });
    const keys = electionKeys(this.keyPrefix, name);
    const context = { backend: BACKEND, election: name, operation: "create" };
    const [prefix, token] = splitToken(record, context);
    const reply = await this.#connection.call(context, options, () =>
      this.#connection.script(
        CREATE,
        false,
        [keys.lock, keys.counter],
        [prefix, token, keys.channel],
        context,
      ),
    );
    if (isNil(reply)) {
      throw new ConflictError(
        "the lock exists, or was deleted (a deleted lock is brought back by an update on its tombstone)",
        context,
      );
    }
    return this.#newest.note(name, writtenSnapshot(reply, context));
  }

  async update(
    name: string,
    record: LeaderRecord,
    expectedVersion: string,
    options?: OperationOptions,
  ): Promise<Snapshot> {
    assertValidElectionName(name, { backend: BACKEND });
    assertValidRecord(record, { backend: BACKEND, election: name });
    const context = { backend: BACKEND, election: name, operation: "update" };
    if (typeof expectedVersion !== "string") {
      throw new InvalidArgumentError("expectedVersion", "must be a version string from a snapshot", context);
    }
    const keys = electionKeys(this.keyPrefix, name);
    // On a tombstone the write brings the lock back and raises the token, as a create does.
    let args: string[];
    if (expectedVersion.startsWith(TOMBSTONE_PREFIX)) {
      const [prefix, token] = splitToken(record, context);
      args = [expectedVersion, prefix, keys.channel, token];
    } else {
      args = [expectedVersion, encodeRecord(record), keys.channel];
    }
    // A version this store never handed out matches nothing the script compares with: CONFLICT.
    const reply = await this.#connection.call(context, options, () =>
      this.#connection.script(UPDATE, false, [keys.lock, keys.counter], args, context),
    );
    if (isNil(reply)) {
      throw new ConflictError(
        `the lock's version moved (expected ${expectedVersion}) or the lock is gone`,
        context,
      );
    }
    return this.#newest.note(name, writtenSnapshot(reply, context));
  }

  /**
   * Follows the election's pub/sub channel (see watch.ts): the current state first, then every
   * commit. All the store's watches share one subscriber connection per Redis node (subscriber.ts).
   */
  watch(name: string, signal: AbortSignal): AsyncIterable<Snapshot | null> {
    return watchElection(this.#watched, name, signal);
  }

  /** Subscriber connections open for watches (one per Redis node with watches), for diagnostics. */
  get watchConnections(): number {
    return this.#connection.subscriberConnections;
  }

  /** Closes the connection the store opened (a client passed in stays open) and ends open watches. */
  async close(): Promise<void> {
    if (!this.#lifecycle.close()) return;
    await this.#connection.close();
  }
}
