import type { ErrorContext, OperationOptions } from "@tenure/core";
import { UnavailableError } from "@tenure/core";
import { boundedCall, type StoreLifecycle } from "@tenure/core/adapter";
import type { Cluster, RedisOptions } from "ioredis";
// ioredis is CommonJS, and its named `Redis` export is newer than ioredis 5.0.0 (the oldest release
// the peer range admits). `module.exports.default` is the Redis class in every 5.x and 6.x; the type
// is named through it too, since it appears in this file's declarations.
import ioredis from "ioredis";
import { isAuthenticationError, isNoScript, mapRedisError } from "./errors.js";
import { electionSlot } from "./keys.js";
import type { RedisLockStoreOptions } from "./redis-store.js";
import type { LuaScript } from "./scripts.js";
import { type ChannelListener, type ChannelSubscription, SharedSubscriber } from "./subscriber.js";

/** A standalone ioredis client. */
type Redis = InstanceType<typeof ioredis.default>;

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

type Client = Redis | Cluster;

/** A reply as ioredis hands it over (legacy reply mapping: arrays, strings, nil). */
export type Reply = unknown;

/** What a store call needs from the client: one generic command sender (standalone or cluster). */
interface CommandSender {
  call(command: string, ...args: (string | number)[]): Promise<Reply>;
}

/** A call waiting for its connection to become ready. */
interface ReadyWaiter {
  resolve(): void;
  reject(error: Error): void;
}

/** The settings of a {@link RedisConnection}. */
export interface RedisConnectionOptions {
  /** A client passed in by the user (checked with {@link isIoRedisClient}); undefined to open one. */
  readonly client: Client | undefined;
  /** Settings of the connection the store opens itself (ignored with `client`). */
  readonly settings: RedisLockStoreOptions;
  readonly requestTimeoutMs: number;
  /** Shapes the advice of permission errors. */
  readonly keyPrefix: string;
  /** The store's open/closed state: calls reject with CLOSED after close, and at close. */
  readonly lifecycle: StoreLifecycle;
  /** How often a subscriber connection is pinged while watches use it; 0: never. */
  readonly heartbeatMs: number;
}

/**
 * The store's way to Redis: the client calls go through, each call bounded in time, and the
 * connections a watch subscribes on.
 */
export class RedisConnection {
  /** The client calls go through; replaced (for connections the store opened) when it goes bad. */
  #client: Client;
  /** Whether the store opened the connection itself (else the user passed a client in). */
  readonly #owned: boolean;
  readonly #options: RedisConnectionOptions;
  /** The last connection error of an owned client, quoted when a call times out. */
  #lastConnectionError: Error | undefined;
  /** Calls waiting for a connection to become ready, by connection (see #waitersOf). */
  readonly #readyWaiters = new WeakMap<Client, Set<ReadyWaiter>>();
  /** The shared subscriber connection of each node watches subscribe on ("" on a standalone server). */
  readonly #subscribers = new Map<string, SharedSubscriber>();

  constructor(options: RedisConnectionOptions) {
    this.#options = options;
    this.#owned = options.client === undefined;
    this.#client = options.client ?? this.#openConnection();
  }

  /**
   * Runs one store call: waits for a ready connection, sends, and settles within requestTimeoutMs or
   * when the caller's signal aborts, whichever comes first, whatever the client's own settings. A
   * write that times out may still commit; the engine treats it as unknown (UNAVAILABLE), never as
   * success, which is the safe reading. A call given up drops the connection (see #drop).
   */
  call<T>(context: ErrorContext, options: OperationOptions | undefined, send: () => Promise<T>): Promise<T> {
    const { lifecycle, requestTimeoutMs, keyPrefix } = this.#options;
    if (lifecycle.closed) return Promise.reject(lifecycle.error(context));
    const client = this.#client;
    return boundedCall(
      {
        timeoutMs: requestTimeoutMs,
        signal: options?.signal,
        closing: lifecycle.signal,
        context,
        onGiveUp: () => this.#drop(client),
        mapError: (error) => mapRedisError(error, context, { keyPrefix }),
        lastConnectionError: () => this.#lastConnectionError,
      },
      (done) => this.#ready(client, done).then(send),
    );
  }

  /** EVALSHA (or EVALSHA_RO), loading the script with EVAL once when the server does not know it. */
  async script(
    script: LuaScript,
    readOnly: boolean,
    keys: readonly string[],
    args: readonly string[],
    context: ErrorContext,
  ): Promise<Reply> {
    const [bySha, bySource] = readOnly ? ["evalsha_ro", "eval_ro"] : ["evalsha", "eval"];
    const tail = [keys.length, ...keys, ...args];
    const sender: CommandSender = this.#client;
    const { keyPrefix } = this.#options;
    try {
      return await sender.call(bySha, script.sha, ...tail);
    } catch (error) {
      if (!isNoScript(error)) throw mapRedisError(error, context, { command: bySha, keyPrefix });
    }
    try {
      return await sender.call(bySource, script.lua, ...tail);
    } catch (error) {
      throw mapRedisError(error, context, { command: bySource, keyPrefix });
    }
  }

  /**
   * Subscribes `listener` to `channel` (the channel of `election`) on the store's shared subscriber
   * connection to the node that serves the election, opening that connection if there is none or
   * the last one broke (see subscriber.ts). A subscriber connection never reconnects or resubscribes
   * on its own: messages published while it was down are gone, so its watches must break and be
   * restarted by the engine, which reads the current state again.
   *
   * On Redis Cluster it is a plain connection to the master serving the election's hash slot, one per
   * master, rather than a Cluster client: the scripts run there, so their PUBLISH reaches it directly
   * instead of over the cluster bus (which drops messages while a bus link is down); and a plain
   * connection breaks visibly (the Cluster client's own subscriber quietly moves to another node,
   * losing the messages in between) and carries the heartbeat on the subscription's own link. After
   * a slot migration or failover the old master still hears the channel over the bus until the
   * engine's next watch picks the new one.
   */
  async subscribe(
    election: string,
    channel: string,
    listener: ChannelListener,
    context: ErrorContext,
    signal: AbortSignal,
  ): Promise<ChannelSubscription> {
    const client = this.#client;
    let node: { key: string; connection: Redis };
    if (!isCluster(client)) node = { key: "", connection: client };
    else {
      const masters = await this.call(context, { signal }, async () => client.nodes("master"));
      const owner = client.slots[electionSlot(election)]?.[0];
      const master =
        masters.find((candidate) => `${candidate.options.host}:${candidate.options.port}` === owner) ??
        masters[Math.floor(Math.random() * masters.length)];
      if (master === undefined) throw new UnavailableError("the cluster client knows no master", context);
      node = { key: `${master.options.host}:${master.options.port}`, connection: master };
    }
    this.#options.lifecycle.assertOpen(context);
    let shared = this.#subscribers.get(node.key);
    if (shared === undefined || !shared.usable) {
      const { key, connection } = node;
      const created: SharedSubscriber = new SharedSubscriber(
        connection.duplicate(subscriberLimits(this.#options.requestTimeoutMs)),
        {
          requestTimeoutMs: this.#options.requestTimeoutMs,
          heartbeatMs: this.#options.heartbeatMs,
          onRetired: () => {
            if (this.#subscribers.get(key) === created) this.#subscribers.delete(key);
          },
        },
      );
      this.#subscribers.set(key, created);
      shared = created;
    }
    return shared.subscribe(channel, listener);
  }

  /** Open subscriber connections (one per Redis node with watches): for tests and diagnostics. */
  get subscriberConnections(): number {
    return this.#subscribers.size;
  }

  /** Closes the connection the store opened (QUIT, bounded by requestTimeoutMs); a client passed in stays open. */
  async close(): Promise<void> {
    for (const shared of [...this.#subscribers.values()]) shared.close();
    if (!this.#owned) return;
    const client = this.#client;
    if (client.status === "ready") {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        client.quit().catch(() => {}),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.#options.requestTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    client.disconnect();
  }

  /**
   * Resolves once `client` can send. A connection the store opened is connected on demand and keeps
   * no offline queue (a command queued behind a dead link could be replayed long after its caller
   * gave up), so calls wait here instead, bounded by the call's limits (`done` aborts when the call
   * is given up).
   */
  #ready(client: Client, done: AbortSignal): Promise<void> {
    if (client.status === "ready") return Promise.resolve();
    if (client.status === "end" && !this.#owned) {
      return Promise.reject(new Error("the ioredis client passed in was closed by its owner"));
    }
    return new Promise<void>((resolve, reject) => {
      const waiters = this.#waitersOf(client);
      const leave = (): void => {
        waiters.delete(waiter);
      };
      const waiter: ReadyWaiter = {
        resolve: () => {
          done.removeEventListener("abort", leave);
          resolve();
        },
        reject: (error) => {
          done.removeEventListener("abort", leave);
          reject(error);
        },
      };
      waiters.add(waiter);
      // A call given up stops waiting: it must not be sent when the connection comes up later.
      done.addEventListener("abort", leave, { once: true });
      if (client.status === "wait" || client.status === "end") client.connect().catch(() => {});
    });
  }

  /**
   * The calls waiting for `client` to become ready. One set of listeners serves them all, however
   * many there are (10,000 elections starting together wait on one connection); the set and its
   * listeners go once the connection is ready, refuses the credentials, or ends.
   */
  #waitersOf(client: Client): Set<ReadyWaiter> {
    const known = this.#readyWaiters.get(client);
    if (known !== undefined) return known;
    const waiters = new Set<ReadyWaiter>();
    const settle = (outcome: (waiter: ReadyWaiter) => void): void => {
      client.off("ready", onReady);
      client.off("error", onError);
      client.off("end", onEnd);
      this.#readyWaiters.delete(client);
      for (const waiter of waiters) outcome(waiter);
      waiters.clear();
    };
    const onReady = (): void => settle((waiter) => waiter.resolve());
    const onError = (error: Error): void => {
      // Refused credentials do not heal by reconnecting; anything else may.
      if (isAuthenticationError(error)) settle((waiter) => waiter.reject(error));
    };
    const onEnd = (): void => {
      const error = this.#lastConnectionError ?? new Error("the connection was closed");
      settle((waiter) => waiter.reject(error));
    };
    client.on("ready", onReady);
    client.on("error", onError);
    client.on("end", onEnd);
    this.#readyWaiters.set(client, waiters);
    return waiters;
  }

  /** A new connection with the store's settings (not connected until the first call). */
  #openConnection(): Redis {
    const client = createClient(this.#options.settings, this.#options.requestTimeoutMs);
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
  #drop(client: Client): void {
    if (!this.#owned || this.#client !== client || this.#options.lifecycle.closed) return;
    this.#client = this.#openConnection();
    client.disconnect();
  }
}

/**
 * Whether `value` is an ioredis `Redis` or `Cluster`, judged by what the store calls on it. Not
 * `instanceof`: a client from another copy of ioredis (another version, a bundled or nested copy)
 * has other classes but the same methods, and must be accepted.
 */
export function isIoRedisClient(value: unknown): value is Client {
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

/**
 * Settings of a subscriber connection (a duplicate of the store's client or of a cluster master):
 * connected on demand, no offline queue, no retries, no reconnect, no resubscribe.
 */
function subscriberLimits(requestTimeoutMs: number) {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResubscribe: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: requestTimeoutMs,
    connectTimeout: requestTimeoutMs,
    replyMapping: "legacy",
    retryStrategy: () => null,
  } as const;
}

/** Opens (lazily) the store's own connection, configured so that nothing waits unboundedly. */
function createClient(options: RedisLockStoreOptions, requestTimeoutMs: number): Redis {
  const settings: RedisOptions & { replyMapping: "legacy" } = {
    replyMapping: "legacy",
    lazyConnect: true,
    enableOfflineQueue: false,
    // In-flight commands fail when the connection drops instead of being resent after a reconnect.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: false,
    commandTimeout: requestTimeoutMs,
    connectTimeout: requestTimeoutMs,
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
