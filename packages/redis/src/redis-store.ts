import type { ConnectionOptions } from "node:tls";
import type {
  ErrorContext,
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
  InvalidArgumentError,
  TenureError,
  UnavailableError,
} from "@tenure/core";
import type { Cluster, Redis, RedisOptions } from "ioredis";
// ioredis is CommonJS, and its named `Redis` export is newer than ioredis 5.0.0 (the oldest release
// the peer range admits). `module.exports.default` is the Redis class in every 5.x and 6.x.
import ioredis from "ioredis";
import { assertPositiveMs, isAuthenticationError, isNoScript, mapRedisError } from "./errors.js";
import { type ElectionKeys, electionKeys, electionSlot } from "./keys.js";
import { CREATE, type LuaScript, READ, UPDATE } from "./scripts.js";

const BACKEND = "redis";

/** Default {@link RedisLockStoreOptions.keyPrefix}. */
export const DEFAULT_KEY_PREFIX = "tenure";
/** Default {@link RedisLockStoreOptions.commandTimeoutMs}. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 2000;
/** Default {@link RedisLockStoreOptions.watchHeartbeatMs}. */
export const DEFAULT_WATCH_HEARTBEAT_MS = 5000;

/**
 * An ioredis client, standalone `Redis` or `Cluster`, of ioredis 5 or 6, from whichever copy of
 * ioredis the program loaded: the store recognises a client by its shape (`call`, `status`,
 * `isCluster`, `duplicate`, …), never with `instanceof`, so a client of another copy than the one
 * this package resolves (another version, a bundled copy) works alike. The type names only what
 * identifies one; the store checks the rest when it is constructed.
 */
export interface IoRedisClient {
  /** ioredis's connection status: `"wait"`, `"connecting"`, `"ready"`, `"end"`, … */
  readonly status: string;
  /** `true` for a `Cluster`, `false` for a standalone `Redis`. */
  readonly isCluster: boolean;
  /** Sends any command (ioredis 5 and later). */
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
}

/** Options of {@link RedisLockStore}. Pass either `client` or connection settings, not both. */
export interface RedisLockStoreOptions {
  /**
   * An ioredis client (standalone `Redis` or `Cluster`, ioredis 5 or 6) to use instead of opening a
   * connection. The store never closes it. Its own options (offline queue, retries) are left as they
   * are; every call is still bounded by `commandTimeoutMs`. Each `watch()` opens a duplicate of it
   * for its subscription and closes that when the watch ends.
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
  readonly commandTimeoutMs?: number;
  /**
   * How often an idle watch pings its subscription connection, so that a silently dead link (a
   * dropped network path sends no reset) breaks the watch within this plus `commandTimeoutMs`
   * instead of never. `0` turns it off. Default 5000.
   */
  readonly watchHeartbeatMs?: number;
  /** `CLIENT SETNAME` of connections the store opens, to find them in `CLIENT LIST`. Default `"tenure"`. */
  readonly connectionName?: string;
}

type Client = Redis | Cluster;
type Reply = unknown;

/** What a store call needs from the client: one generic command sender (standalone or cluster). */
interface CommandSender {
  call(command: string, ...args: (string | number)[]): Promise<Reply>;
}

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
  readonly commandTimeoutMs: number;
  /** The client calls go through; replaced (for connections the store opened) when it goes bad. */
  #client: Client;
  /** Settings of the connection the store opens itself; undefined when the user passed a client. */
  readonly #connectionOptions: RedisLockStoreOptions | undefined;
  readonly #watchHeartbeatMs: number;
  /** Ends each open watch with CLOSED; called by close(). */
  readonly #watchClosers = new Set<() => void>();
  /**
   * The newest snapshot of each election this store has returned from a read or a write. A watch
   * never yields anything older: its messages travel on another connection and may arrive after the
   * answer to a later write of this very store, and an engine that had just acquired the lock would
   * take the late, older state (the previous holder's, or "absent") for a takeover.
   */
  readonly #newest = new Map<string, Snapshot>();
  #closed = false;
  /** The last connection error of an owned client, quoted when a call times out. */
  #lastConnectionError: Error | undefined;

  /** Validates the options (throws INVALID_ARGUMENT naming the field) and prepares the connection. */
  constructor(options: RedisLockStoreOptions = {}) {
    const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    if (typeof keyPrefix !== "string" || /[{}]/.test(keyPrefix)) {
      throw new InvalidArgumentError(
        "keyPrefix",
        "must be a string without '{' or '}' (the election name is the cluster hash tag)",
        { backend: BACKEND },
      );
    }
    const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    assertPositiveMs("commandTimeoutMs", commandTimeoutMs);
    const watchHeartbeatMs = options.watchHeartbeatMs ?? DEFAULT_WATCH_HEARTBEAT_MS;
    if (watchHeartbeatMs !== 0) assertPositiveMs("watchHeartbeatMs", watchHeartbeatMs);
    this.keyPrefix = keyPrefix;
    this.commandTimeoutMs = commandTimeoutMs;
    this.#watchHeartbeatMs = watchHeartbeatMs;

    if (options.client !== undefined) {
      const conflicting = (["url", "host", "port", "username", "password", "db", "tls"] as const).filter(
        (field) => options[field] !== undefined,
      );
      if (conflicting.length > 0) {
        throw new InvalidArgumentError(
          "client",
          `cannot be combined with connection settings (${conflicting.join(", ")}); configure the client instead`,
          { backend: BACKEND },
        );
      }
      if (!isIoRedisClient(options.client)) {
        throw new InvalidArgumentError("client", "must be an ioredis (5 or 6) Redis or Cluster instance", {
          backend: BACKEND,
        });
      }
      this.#client = options.client;
      this.#connectionOptions = undefined;
    } else {
      if (options.url !== undefined && (options.host !== undefined || options.port !== undefined)) {
        throw new InvalidArgumentError("url", "cannot be combined with host or port", { backend: BACKEND });
      }
      this.#connectionOptions = options;
      this.#client = this.#openConnection();
    }
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
    const reply = await this.#call(context, options, () =>
      this.#script(READ, true, [keys.lock, keys.counter], [], context),
    );
    const snapshot = readSnapshot(reply, context);
    if (snapshot !== null) this.#note(name, snapshot);
    return snapshot;
  }

  async create(name: string, record: LeaderRecord, options?: OperationOptions): Promise<Snapshot> {
    assertValidElectionName(name, { backend: BACKEND });
    assertValidRecord(record, { backend: BACKEND, election: name });
    const keys = electionKeys(this.keyPrefix, name);
    const context = { backend: BACKEND, election: name, operation: "create" };
    const [prefix, token] = splitToken(record);
    const reply = await this.#call(context, options, () =>
      this.#script(CREATE, false, [keys.lock, keys.counter], [prefix, token, keys.channel], context),
    );
    if (isNil(reply)) {
      throw new ConflictError(
        "the lock exists, or was deleted (a deleted lock is brought back by an update on its tombstone)",
        context,
      );
    }
    return this.#note(name, writtenSnapshot(reply, context));
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
      const [prefix, token] = splitToken(record);
      args = [expectedVersion, prefix, keys.channel, token];
    } else {
      args = [expectedVersion, encodeRecord(record), keys.channel];
    }
    const reply = await this.#call(context, options, () =>
      this.#script(UPDATE, false, [keys.lock, keys.counter], args, context),
    );
    if (isNil(reply)) {
      throw new ConflictError(
        `the lock's version moved (expected ${expectedVersion}) or the lock is gone`,
        context,
      );
    }
    return this.#note(name, writtenSnapshot(reply, context));
  }

  /**
   * Subscribes to the election's channel on a connection of its own, and only then reads the current
   * state, so that no commit can fall between the read and the subscription. Messages for versions
   * the read already covered (a commit racing the read is both read and published) are dropped by
   * comparing versions, which only grow; so are states older than one this store instance already
   * returned from a read or a write (see #newest). Ends when `signal` aborts; throws UNAVAILABLE when the
   * subscription connection breaks, since messages published while it was down are lost for good.
   */
  async *watch(name: string, signal: AbortSignal): AsyncIterable<Snapshot | null> {
    assertValidElectionName(name, { backend: BACKEND });
    const context = { backend: BACKEND, election: name, operation: "watch" };
    if (this.#closed) throw new ClosedError("store closed", context);
    if (signal.aborted) return;
    const keys = electionKeys(this.keyPrefix, name);
    let subscriber: Redis;
    try {
      subscriber = await this.#subscriptionConnection(name, context, signal);
    } catch (error) {
      if (signal.aborted) return;
      throw error;
    }
    const queue: string[] = [];
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const notify = (): void => {
      const resolve = wake;
      wake = undefined;
      resolve?.();
    };
    let breakWatch: (error: Error) => void = () => {};
    const broken = new Promise<never>((_, reject) => {
      breakWatch = (error) => {
        if (failure !== undefined) return;
        failure = error;
        reject(error);
        notify();
      };
    });
    broken.catch(() => {});
    let resolveStopped: (value: "stopped") => void = () => {};
    const stopped = new Promise<"stopped">((resolve) => {
      resolveStopped = resolve;
    });
    const onAbort = (): void => {
      resolveStopped("stopped");
      notify();
    };
    const onMessage = (channel: string, message: string): void => {
      if (channel !== keys.channel) return;
      queue.push(message);
      notify();
    };
    const onError = (error: Error): void => {
      breakWatch(mapRedisError(error, context, { command: "subscribe", keyPrefix: this.keyPrefix }));
    };
    const onClose = (): void => {
      breakWatch(new UnavailableError("the watch connection to Redis closed", context));
    };
    /** Waits for `step`, unless the watch breaks, the signal aborts or the time limit passes. */
    const within = async <T>(step: Promise<T>, what: string): Promise<T | "stopped"> => {
      step.catch(() => {});
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new UnavailableError(`${what}: no answer within ${this.commandTimeoutMs} ms`, context)),
          this.commandTimeoutMs,
        );
      });
      try {
        return await Promise.race([step, broken, stopped, timeout]);
      } catch (error) {
        throw mapRedisError(error, context, { command: what, keyPrefix: this.keyPrefix });
      } finally {
        clearTimeout(timer);
      }
    };

    subscriber.on("message", onMessage);
    subscriber.on("error", onError);
    subscriber.on("close", onClose);
    subscriber.on("end", onClose);
    signal.addEventListener("abort", onAbort);
    if (signal.aborted) onAbort();
    const closeWatch = (): void => breakWatch(new ClosedError("store closed", context));
    this.#watchClosers.add(closeWatch);
    let heartbeat: NodeJS.Timeout | undefined;
    try {
      if ((await within(subscriber.connect(), "connect")) === "stopped") return;
      if ((await within(subscriber.subscribe(keys.channel), "subscribe")) === "stopped") return;
      const knownBefore = this.#newest.get(name);
      let initial: Snapshot | null;
      try {
        initial = await this.get(name, { signal });
      } catch (error) {
        if (signal.aborted) return;
        throw error;
      }
      if (signal.aborted) return;
      // A write of this store answered while the read was under way may be newer than what it read.
      const known = this.#newest.get(name);
      const first =
        known !== undefined &&
        known !== knownBefore &&
        (initial === null || isOlder(initial.version, known.version))
          ? known
          : initial;
      let last = first?.version;
      yield first;
      if (this.#watchHeartbeatMs > 0) {
        heartbeat = setInterval(() => {
          void within(subscriber.ping(), "ping").catch((error: unknown) => {
            breakWatch(error instanceof Error ? error : new Error(String(error)));
          });
        }, this.#watchHeartbeatMs);
      }
      for (;;) {
        if (signal.aborted) return;
        const message = queue.shift();
        if (message !== undefined) {
          const snapshot = publishedSnapshot(message);
          // Not from the scripts (someone else publishing on the channel): not a commit, ignore it.
          if (snapshot === undefined) continue;
          if (last !== undefined && !isNewer(snapshot.version, last)) continue;
          const known = this.#newest.get(name)?.version;
          if (known !== undefined && isOlder(snapshot.version, known)) continue;
          last = snapshot.version;
          yield snapshot;
          continue;
        }
        if (failure !== undefined) throw failure;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      clearInterval(heartbeat);
      this.#watchClosers.delete(closeWatch);
      signal.removeEventListener("abort", onAbort);
      subscriber.off("close", onClose);
      subscriber.off("end", onClose);
      subscriber.off("message", onMessage);
      // Keep a listener: a late socket error after disconnect must not become an unhandled event.
      subscriber.off("error", onError);
      subscriber.on("error", () => {});
      subscriber.disconnect();
    }
  }

  /** Remembers `snapshot` as the newest of `election` if it is; returns it. */
  #note(election: string, snapshot: Snapshot): Snapshot {
    const known = this.#newest.get(election);
    if (known === undefined || !isOlder(snapshot.version, known.version))
      this.#newest.set(election, snapshot);
    return snapshot;
  }

  /** Closes the connection the store opened (a client passed in stays open) and ends open watches. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const closeWatch of [...this.#watchClosers]) closeWatch();
    if (this.#connectionOptions === undefined) return;
    const client = this.#client;
    if (client.status === "ready") {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        client.quit().catch(() => {}),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.commandTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    client.disconnect();
  }

  /**
   * Runs one store call: waits for a ready connection, sends, and settles within commandTimeoutMs or
   * when the caller's signal aborts, whichever comes first, whatever the client's own settings. A
   * write that times out may still commit; the engine treats it as unknown (UNAVAILABLE), never as
   * success, which is the safe reading.
   */
  #call<T>(context: ErrorContext, options: OperationOptions | undefined, send: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new ClosedError("store closed", context));
    const signal = options?.signal;
    if (signal?.aborted)
      return Promise.reject(new UnavailableError("call aborted before it was sent", context));
    const client = this.#client;
    return new Promise<T>((resolve, reject) => {
      const done = new AbortController();
      const finish = (settle: () => void): void => {
        if (done.signal.aborted) return;
        done.abort();
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        settle();
      };
      const timer = setTimeout(() => {
        this.#dropConnection(client);
        const last = this.#lastConnectionError;
        const reason = last === undefined ? "" : ` (last connection error: ${last.message})`;
        finish(() =>
          reject(
            new UnavailableError(`no answer from Redis within ${this.commandTimeoutMs} ms${reason}`, {
              ...context,
              ...(last === undefined ? {} : { cause: last }),
            }),
          ),
        );
      }, this.commandTimeoutMs);
      const onAbort = (): void => {
        this.#dropConnection(client);
        finish(() => reject(new UnavailableError("call aborted", context)));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#ready(client, done.signal)
        .then(send)
        .then(
          (value) => finish(() => resolve(value)),
          (error: unknown) =>
            finish(() => reject(mapRedisError(error, context, { keyPrefix: this.keyPrefix }))),
        );
    });
  }

  /**
   * Resolves once `client` can send. A connection the store opened is connected on demand and keeps
   * no offline queue (a command queued behind a dead link could be replayed long after its caller
   * gave up), so calls wait here instead, bounded by the caller's timer (`done` aborts when the call
   * settles).
   */
  #ready(client: Client, done: AbortSignal): Promise<void> {
    if (client.status === "ready") return Promise.resolve();
    const owned = this.#connectionOptions !== undefined;
    if (client.status === "end" && !owned) {
      return Promise.reject(new Error("the ioredis client passed in was closed by its owner"));
    }
    return new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        client.off("ready", onReady);
        client.off("error", onError);
        client.off("end", onEnd);
        done.removeEventListener("abort", cleanup);
      };
      const onReady = (): void => {
        cleanup();
        resolve();
      };
      const onError = (error: Error): void => {
        // Refused credentials do not heal by reconnecting; anything else may.
        if (!isAuthenticationError(error)) return;
        cleanup();
        reject(error);
      };
      const onEnd = (): void => {
        cleanup();
        reject(this.#lastConnectionError ?? new Error("the connection was closed"));
      };
      client.on("ready", onReady);
      client.on("error", onError);
      client.on("end", onEnd);
      done.addEventListener("abort", cleanup, { once: true });
      if (client.status === "wait" || client.status === "end") client.connect().catch(() => {});
    });
  }

  /** A new connection with the store's settings (not connected until the first call). */
  #openConnection(): Redis {
    const options = this.#connectionOptions ?? {};
    const client = createClient(options, this.commandTimeoutMs);
    // Without a listener ioredis prints every connection error; the store reports them instead.
    client.on("error", (error: Error) => {
      if (this.#client === client) this.#lastConnectionError = error;
    });
    client.on("ready", () => {
      if (this.#client === client) this.#lastConnectionError = undefined;
    });
    return client;
  }

  /**
   * Replaces a connection the store opened after a call on it got no answer in time. Redis answers
   * each connection's commands in order, so every later call would wait behind the missing answer,
   * and a silently dropped link (no reset) would never be noticed; a fresh connection is the only
   * way to a prompt answer. Clients passed in are the user's to manage and stay as they are.
   */
  #dropConnection(client: Client): void {
    if (this.#connectionOptions === undefined || this.#client !== client || this.#closed) return;
    this.#client = this.#openConnection();
    client.disconnect();
  }

  /** EVALSHA (or EVALSHA_RO), loading the script with EVAL once when the server does not know it. */
  async #script(
    script: LuaScript,
    readOnly: boolean,
    keys: readonly string[],
    args: readonly string[],
    context: ErrorContext,
  ): Promise<Reply> {
    const [bySha, bySource] = readOnly ? ["evalsha_ro", "eval_ro"] : ["evalsha", "eval"];
    const tail = [keys.length, ...keys, ...args];
    const sender: CommandSender = this.#client;
    try {
      return await sender.call(bySha, script.sha, ...tail);
    } catch (error) {
      if (!isNoScript(error))
        throw mapRedisError(error, context, { command: bySha, keyPrefix: this.keyPrefix });
    }
    try {
      return await sender.call(bySource, script.lua, ...tail);
    } catch (error) {
      throw mapRedisError(error, context, { command: bySource, keyPrefix: this.keyPrefix });
    }
  }

  /**
   * A connection for one subscription. It never reconnects or resubscribes on its own: messages
   * published while it was down are gone, so the watch must break and be restarted by the engine,
   * which reads the current state again.
   *
   * On Redis Cluster it is a plain connection to the master serving the election's hash slot, rather
   * than a Cluster client: the scripts run there, so their PUBLISH reaches it directly instead of
   * over the cluster bus (which drops messages while a bus link is down); and a plain connection
   * breaks visibly (the Cluster client's own subscriber quietly moves to another node, losing the
   * messages in between) and carries the heartbeat on the subscription's own link. After a slot
   * migration or failover the old master still hears the channel over the bus until the engine's
   * next watch picks the new one.
   */
  async #subscriptionConnection(
    election: string,
    context: ErrorContext,
    signal: AbortSignal,
  ): Promise<Redis> {
    const limits = {
      lazyConnect: true,
      enableOfflineQueue: false,
      autoResubscribe: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.commandTimeoutMs,
      connectTimeout: this.commandTimeoutMs,
      replyMapping: "legacy",
      retryStrategy: () => null,
    } as const;
    const client = this.#client;
    if (!isCluster(client)) return client.duplicate(limits);
    const masters = await this.#call(context, { signal }, async () => client.nodes("master"));
    const owner = client.slots[electionSlot(election)]?.[0];
    const node =
      masters.find((candidate) => `${candidate.options.host}:${candidate.options.port}` === owner) ??
      masters[Math.floor(Math.random() * masters.length)];
    if (node === undefined) throw new UnavailableError("the cluster client knows no master", context);
    return node.duplicate(limits);
  }
}

/**
 * Whether `value` is an ioredis `Redis` or `Cluster`, judged by what the store calls on it. Not
 * `instanceof`: a client from another copy of ioredis (another version, a bundled or nested copy)
 * has other classes but the same methods, and must be accepted.
 */
function isIoRedisClient(value: unknown): value is Client {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Record<string, unknown>;
  const methods = ["call", "connect", "duplicate", "on", "off", "quit", "disconnect"];
  if (!methods.every((method) => typeof candidate[method] === "function")) return false;
  if (typeof candidate.status !== "string" || typeof candidate.isCluster !== "boolean") return false;
  return candidate.isCluster === false || typeof candidate.nodes === "function";
}

/** Whether a client (checked by {@link isIoRedisClient}) is a Cluster; ioredis marks it itself. */
function isCluster(client: Client): client is Cluster {
  return client.isCluster;
}

/** Opens (lazily) the store's own connection, configured so that nothing waits unboundedly. */
function createClient(options: RedisLockStoreOptions, commandTimeoutMs: number): Redis {
  const settings: RedisOptions & { replyMapping: "legacy" } = {
    replyMapping: "legacy",
    lazyConnect: true,
    enableOfflineQueue: false,
    // In-flight commands fail when the connection drops instead of being resent after a reconnect.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: false,
    commandTimeout: commandTimeoutMs,
    connectTimeout: commandTimeoutMs,
    // No reconnecting in the background: the next call connects again, at once and within its own
    // time limit, so a store that comes back is used without waiting for a back-off to run out.
    retryStrategy: () => null,
    connectionName: options.connectionName ?? "tenure",
  };
  if (options.host !== undefined) settings.host = options.host;
  if (options.port !== undefined) settings.port = options.port;
  if (options.username !== undefined) settings.username = options.username;
  if (options.password !== undefined) settings.password = options.password;
  if (options.db !== undefined) settings.db = options.db;
  if (options.tls !== undefined && options.tls !== false) {
    settings.tls = options.tls === true ? {} : options.tls;
  }
  const RedisClient = ioredis.default;
  if (options.url !== undefined) return new RedisClient(options.url, settings);
  settings.host ??= "127.0.0.1";
  return new RedisClient(settings);
}

/** Whether both versions were handed out by the scripts and `candidate` came before `other`. */
function isOlder(candidate: string, other: string): boolean {
  const digits = /^\d+$/;
  if (!digits.test(candidate) || !digits.test(other)) return false;
  return candidate.length !== other.length ? candidate.length < other.length : candidate < other;
}

/** Whether version `candidate` was committed after `last` (versions written by the scripts only grow). */
function isNewer(candidate: string, last: string): boolean {
  const digits = /^\d+$/;
  // A token of content written by another program has no order; anything published after it is news.
  if (!digits.test(candidate) || !digits.test(last)) return candidate !== last;
  return candidate.length !== last.length ? candidate.length > last.length : candidate > last;
}

/** A script's `false`: nil over RESP2 and RESP3 alike, but a boolean if a client maps replies so. */
function isNil(reply: Reply): boolean {
  return reply === null || reply === false;
}

function internal(problem: string, context: ErrorContext): TenureError {
  return new TenureError("INTERNAL", problem, {
    ...context,
    remedy: "this is a bug or an incompatible server; please report it",
  });
}

/** A snapshot from the read script's reply. */
function readSnapshot(reply: Reply, context: ErrorContext): Snapshot | null {
  if (isNil(reply)) return null;
  if (!Array.isArray(reply) || reply.length !== 3 || !reply.every((item) => typeof item === "string")) {
    throw internal(`unexpected reply to the read script: ${JSON.stringify(reply)}`, context);
  }
  const [version, text, kind] = reply as [string, string, string];
  if (kind === "deleted") return { version, record: null, deleted: true };
  if (kind !== "hash") {
    return { version, record: null, corruption: `the key holds a Redis ${kind}, not the hash Tenure writes` };
  }
  if (text === "") return { version, record: null, corruption: "the hash has no record field" };
  const decoded = decodeRecord(text);
  return "record" in decoded
    ? { version, record: decoded.record }
    : { version, record: null, corruption: `record field: ${decoded.corruption}` };
}

/** The snapshot a successful create or update committed: the script answers `{version, record}`. */
function writtenSnapshot(reply: Reply, context: ErrorContext): Snapshot {
  if (!Array.isArray(reply) || reply.length !== 2 || !reply.every((item) => typeof item === "string")) {
    throw internal(`unexpected reply to a write script: ${JSON.stringify(reply)}`, context);
  }
  const [version, value] = reply as [string, string];
  return toSnapshot(version, value);
}

/** How the read script names a deleted lock's version (see TOMBSTONE in scripts.ts). */
const TOMBSTONE_PREFIX = "deleted-";

/**
 * The record's JSON cut before its token, and the token, for the scripts that raise it
 * (WITH_TOKEN_FLOOR): `encodeRecord` writes `leaderTransitions` last, so the JSON is the prefix, the
 * number and a closing brace.
 */
function splitToken(record: LeaderRecord): [string, string] {
  const value = encodeRecord(record);
  const token = String(record.leaderTransitions);
  const prefix = value.slice(0, value.length - token.length - 1);
  if (!prefix.endsWith('"leaderTransitions":') || `${prefix}${token}}` !== value) {
    throw new TenureError("INTERNAL", "the encoded record does not end with its token", {
      backend: BACKEND,
    });
  }
  return [prefix, token];
}

/** The snapshot a script published (`<version>\n<record JSON>`), or undefined for anything else. */
function publishedSnapshot(message: string): Snapshot | undefined {
  const newline = message.indexOf("\n");
  const version = message.slice(0, Math.max(newline, 0));
  if (!/^[1-9][0-9]*$/.test(version)) return undefined;
  return toSnapshot(version, message.slice(newline + 1));
}

function toSnapshot(version: string, value: string): Snapshot {
  const decoded = decodeRecord(value);
  return "record" in decoded
    ? { version, record: decoded.record }
    : { version, record: null, corruption: decoded.corruption };
}
