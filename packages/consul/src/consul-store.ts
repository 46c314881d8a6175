import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { SecureContextOptions } from "node:tls";
import type { LeaderRecord, LockStore, OperationOptions, Snapshot, StoreCapabilities } from "@tenure/core";
import {
  assertValidElectionName,
  assertValidRecord,
  ClosedError,
  ConflictError,
  decodeRecord,
  encodeRecord,
  InvalidArgumentError,
  PermissionDeniedError,
  TenureError,
  UnavailableError,
} from "@tenure/core";
import {
  type ConsistencyMode,
  ConsulTransport,
  type Endpoint,
  type KvEntry,
  TransportError,
} from "./transport.js";

const BACKEND = "consul";

/** Where locks live unless `keyPrefix` says otherwise: one key per election, `tenure/elections/<name>`. */
export const DEFAULT_KEY_PREFIX = "tenure/elections/";
/** Default bound on one call when no signal ends it sooner. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
/** Default `wait` of the blocking queries behind `watch`. */
export const DEFAULT_WATCH_WAIT_MS = 60_000;

/** TLS settings for HTTPS to the agent (the same fields as Node's `tls.connect`). */
export interface ConsulTlsOptions {
  /** CA certificate(s) that signed the agent's certificate (PEM). Default: Node's trusted CAs. */
  readonly ca?: SecureContextOptions["ca"];
  /** Client certificate (PEM), when the agent has `verify_incoming` on. */
  readonly cert?: SecureContextOptions["cert"];
  /** Client private key (PEM) matching `cert`. */
  readonly key?: SecureContextOptions["key"];
  /** Server name to verify the agent's certificate against, when it differs from `host`. */
  readonly servername?: string;
  /** Verify the agent's certificate. Default true; turn off only for local experiments. */
  readonly rejectUnauthorized?: boolean;
}

/**
 * Options of {@link ConsulLockStore}. Every field may be `undefined` (its default applies), so values
 * can come straight from the environment.
 */
export interface ConsulLockStoreOptions {
  /**
   * The connection pool to send requests through: an `http.Agent` (or an `https.Agent` for HTTPS)
   * your program already uses for Consul, so the store opens no pool of its own. It stays open on
   * `close()`: its owner destroys it. Default: a keep-alive agent of the store's own, destroyed by
   * `close()`.
   */
  readonly agent?: HttpAgent | HttpsAgent | undefined;
  /**
   * The agent's HTTP address: `host:port` (the form of `CONSUL_HTTP_ADDR`) or a URL such as
   * `https://consul.internal:8501`. Alternative to `host` / `port` / `secure`.
   */
  readonly address?: string | undefined;
  /** Agent host. Default `127.0.0.1`. */
  readonly host?: string | undefined;
  /** Agent HTTP(S) port. Default 8500 (8501 is Consul's usual HTTPS port). */
  readonly port?: number | undefined;
  /** Use HTTPS. Default false, or true when `tls` is given or `address` starts with `https://`. */
  readonly secure?: boolean | undefined;
  /** TLS settings for HTTPS (implies `secure`). */
  readonly tls?: ConsulTlsOptions | undefined;
  /**
   * ACL token sent with every call (`X-Consul-Token`). It needs `key_prefix "<keyPrefix>" { policy =
   * "write" }` (or "read" for a store that only reads and watches). Default: none (the agent's default
   * token).
   */
  readonly token?: string | undefined;
  /** Datacenter to run in. Default: the agent's own. */
  readonly datacenter?: string | undefined;
  /** Prefix of the lock keys; the key is `<keyPrefix><election name>`. Default {@link DEFAULT_KEY_PREFIX}. */
  readonly keyPrefix?: string | undefined;
  /**
   * Upper bound on one call, in ms: an agent that does not answer in time fails the call with
   * UNAVAILABLE. `OperationOptions.signal` may end a call sooner. Default {@link DEFAULT_REQUEST_TIMEOUT_MS}.
   */
  readonly requestTimeoutMs?: number | undefined;
  /**
   * How long one blocking query of `watch` waits for a change, in ms (Consul caps it at 10 minutes and
   * adds up to 1/16 jitter). A shorter wait notices a silently dead connection sooner at the cost of
   * one more request per follower per wait. Default {@link DEFAULT_WATCH_WAIT_MS}.
   */
  readonly watchWaitMs?: number | undefined;
  /**
   * Read mode of `get` and `watch`: `"default"` (the Raft leader answers from its state),
   * `"consistent"` (the leader first confirms with a quorum that it still leads: one more round of
   * server traffic per read) or `"stale"` (any server answers). Writes are always linearizable. See
   * the README's Safety section. Default `"default"`.
   */
  readonly consistency?: ConsistencyMode | undefined;
}

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
  /** Aborted by close(): ends every call and watch still running. */
  readonly #closing = new AbortController();
  #closed = false;

  /** Validates the options (throwing InvalidArgumentError naming the field) and sets up the connection pool. */
  constructor(options: ConsulLockStoreOptions = {}) {
    const fail = (field: string, rule: string): never => {
      throw new InvalidArgumentError(field, rule, { backend: BACKEND });
    };
    const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    if (typeof keyPrefix !== "string" || keyPrefix.startsWith("/")) {
      fail("keyPrefix", "must be a string that does not start with '/' (Consul keys have no leading slash)");
    }
    const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!Number.isFinite(requestTimeoutMs) || requestTimeoutMs <= 0) {
      fail("requestTimeoutMs", "must be a positive number of milliseconds");
    }
    const watchWaitMs = options.watchWaitMs ?? DEFAULT_WATCH_WAIT_MS;
    if (!Number.isFinite(watchWaitMs) || watchWaitMs < 1 || watchWaitMs > 600_000) {
      fail("watchWaitMs", "must be between 1 and 600000 milliseconds (Consul's limit is 10 minutes)");
    }
    const consistency = options.consistency ?? "default";
    if (!["default", "consistent", "stale"].includes(consistency)) {
      fail("consistency", 'must be "default", "consistent" or "stale"');
    }
    for (const field of ["token", "datacenter"] as const) {
      const value = options[field];
      if (value !== undefined && typeof value !== "string") fail(field, "must be a string when given");
    }
    // An empty token or datacenter means "not set", as in Consul's own CONSUL_HTTP_TOKEN handling.
    const token = options.token === "" ? undefined : options.token;
    const datacenter = options.datacenter === "" ? undefined : options.datacenter;
    const connection = connectionOptions(options);
    if (options.agent !== undefined) {
      if (!isAgent(options.agent)) fail("agent", "must be an http.Agent or https.Agent");
      // Node refuses an https request through an http.Agent (and the reverse) on every call.
      const expected = connection.protocol;
      // `protocol` is set by Node's Agent constructors ("http:" / "https:") but not in its typings.
      if ((options.agent as { protocol?: unknown }).protocol !== expected) {
        fail(
          "agent",
          `must be an ${expected === "https:" ? "https" : "http"}.Agent for an ${expected.slice(0, -1)} address`,
        );
      }
      this.#agent = options.agent;
      this.#ownsAgent = false;
    } else {
      // Keep-alive: a leader renews every retry period and followers hold a blocking query, so
      // connections are reused rather than opened per call.
      this.#agent =
        connection.protocol === "https:"
          ? new HttpsAgent({ keepAlive: true })
          : new HttpAgent({ keepAlive: true });
      this.#ownsAgent = true;
    }
    this.keyPrefix = keyPrefix;
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#watchWaitMs = watchWaitMs;
    const endpoint: Endpoint = { ...connection, agent: this.#agent };
    this.#transport = new ConsulTransport(endpoint, { token, datacenter }, consistency);
  }

  /** The Consul key holding an election's lock. */
  keyOf(name: string): string {
    return `${this.keyPrefix}${name}`;
  }

  async get(name: string, options?: OperationOptions): Promise<Snapshot | null> {
    this.#check(name, "get");
    const key = this.keyOf(name);
    try {
      const read = await this.#transport.readKey(key, this.#requestTimeoutMs, this.#signal(options));
      return read.entry === null ? null : toSnapshot(read.entry);
    } catch (error) {
      throw this.#mapError(error, "get", name);
    }
  }

  /**
   * Creates the lock: a consistent read of the key, then a check-and-set with index 0 (only if the
   * key does not exist). The read's `X-Consul-Index` raises the fencing token (see
   * {@link tokenAbove}); both requests share one `requestTimeoutMs`.
   */
  async create(name: string, record: LeaderRecord, options?: OperationOptions): Promise<Snapshot> {
    this.#encode(name, record, "create"); // validates before any I/O; the stored record is encoded below
    const key = this.keyOf(name);
    const signal = this.#signal(options);
    const started = performance.now();
    let read: Awaited<ReturnType<ConsulTransport["readKey"]>>;
    try {
      // Consistent whatever the store's read mode: a lagging server could answer with an index
      // below a token already handed out (see tokenAbove). Creates are rare; the quorum round is cheap.
      read = await this.#transport.readKey(key, this.#requestTimeoutMs, signal, undefined, "consistent");
    } catch (error) {
      throw this.#mapError(error, "create", name);
    }
    if (read.entry !== null) {
      throw new ConflictError("the lock already exists", {
        backend: BACKEND,
        election: name,
        operation: "create",
      });
    }
    const stored = { ...record, leaderTransitions: tokenAbove(record.leaderTransitions, read.index, name) };
    const remainingMs = Math.max(1, this.#requestTimeoutMs - (performance.now() - started));
    return this.#write(name, encodeRecord(stored), stored, 0, "create", options, remainingMs);
  }

  async update(
    name: string,
    record: LeaderRecord,
    expectedVersion: string,
    options?: OperationOptions,
  ): Promise<Snapshot> {
    const value = this.#encode(name, record, "update");
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
    return this.#write(name, value, record, index, "update", options);
  }

  /**
   * Follows the lock with blocking queries: yields the current state first (`null` when the lock does
   * not exist), then the state after each change the queries observe, in commit order. A blocking
   * query answers with the key's latest state, so several commits between two queries arrive as one
   * (the latest); the next query is sent as soon as the previous one answers, independently of how
   * fast the consumer iterates, to keep that window small. Ends when `signal` aborts (cancelling the
   * query in flight); throws UNAVAILABLE when the agent cannot be reached.
   */
  async *watch(name: string, signal: AbortSignal): AsyncIterable<Snapshot | null> {
    this.#check(name, "watch");
    const key = this.keyOf(name);
    // Ends the pump when the iteration ends for any reason, without touching the caller's signal.
    const ended = new AbortController();
    const stop = AbortSignal.any([signal, this.#closing.signal, ended.signal]);
    const queue: (Snapshot | null)[] = [];
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const notify = (): void => {
      const resolve = wake;
      wake = undefined;
      resolve?.();
    };
    const onStop = (): void => notify();
    stop.addEventListener("abort", onStop);
    void this.#pump(name, key, stop, (snapshot) => {
      queue.push(snapshot);
      notify();
    }).catch((error: unknown) => {
      failure = error instanceof Error ? error : new Error(String(error));
      notify();
    });
    try {
      for (;;) {
        if (signal.aborted) return;
        if (queue.length > 0) {
          yield queue.shift() ?? null;
          continue;
        }
        if (failure !== undefined) throw failure;
        if (stop.aborted) throw this.#closedError(name, "watch");
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      stop.removeEventListener("abort", onStop);
      // Ending the iteration (abort, break, error) cancels the query in flight.
      ended.abort();
    }
  }

  /** Stops every call and watch of this store; destroys the connection pool only if this store created it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort(new ClosedError("store closed", { backend: BACKEND }));
    if (this.#ownsAgent) this.#agent.destroy();
  }

  /**
   * The blocking-query loop behind `watch`. Consul's guidance for blocking queries is followed: the
   * first query is non-blocking; each next one blocks on the last `X-Consul-Index`; an index that
   * goes backwards (a snapshot restore, a new cluster) resets to 0, and an index below 1 is raised
   * to 1 so the query still blocks. A query may return without any change (wait expired, or a write
   * elsewhere moved the index), so a snapshot is emitted only when the key's ModifyIndex changed.
   */
  async #pump(
    name: string,
    key: string,
    stop: AbortSignal,
    emit: (snapshot: Snapshot | null) => void,
  ): Promise<void> {
    let index = 0;
    let lastVersion: string | null | undefined;
    // A blocking query legitimately takes up to wait + wait/16 (Consul's jitter) before answering.
    const blockingTimeoutMs = this.#watchWaitMs + Math.ceil(this.#watchWaitMs / 16) + this.#requestTimeoutMs;
    while (!stop.aborted) {
      let read: Awaited<ReturnType<ConsulTransport["readKey"]>>;
      try {
        read =
          index === 0
            ? await this.#transport.readKey(key, this.#requestTimeoutMs, stop)
            : await this.#transport.readKey(key, blockingTimeoutMs, stop, {
                index,
                waitMs: this.#watchWaitMs,
              });
      } catch (error) {
        if (stop.aborted) return;
        throw this.#mapError(error, "watch", name);
      }
      const snapshot = read.entry === null ? null : toSnapshot(read.entry);
      const version = snapshot?.version ?? null;
      if (version !== lastVersion) {
        lastVersion = version;
        emit(snapshot);
      }
      const next = read.index ?? read.entry?.modifyIndex ?? 0;
      index = next < index ? 0 : Math.max(next, 1);
    }
  }

  async #write(
    name: string,
    value: string,
    record: LeaderRecord,
    index: number,
    operation: "create" | "update",
    options: OperationOptions | undefined,
    timeoutMs = this.#requestTimeoutMs,
  ): Promise<Snapshot> {
    const key = this.keyOf(name);
    try {
      const modifyIndex = await this.#transport.casWrite(key, value, index, timeoutMs, this.#signal(options));
      // A copy: the snapshot must not change if the caller later reuses its record object.
      return { version: String(modifyIndex), record: { ...record } };
    } catch (error) {
      throw this.#mapError(error, operation, name);
    }
  }

  #encode(name: string, record: LeaderRecord, operation: string): string {
    this.#check(name, operation);
    assertValidRecord(record, { backend: BACKEND, election: name });
    return encodeRecord(record);
  }

  #check(name: string, operation: string): void {
    assertValidElectionName(name, { backend: BACKEND });
    if (this.#closed) throw this.#closedError(name, operation);
  }

  #closedError(name: string, operation: string): ClosedError {
    return new ClosedError("store closed", {
      backend: BACKEND,
      election: name,
      operation,
      remedy: "create a new ConsulLockStore",
    });
  }

  /** The caller's signal combined with close(). */
  #signal(options: OperationOptions | undefined): AbortSignal {
    return options?.signal === undefined
      ? this.#closing.signal
      : AbortSignal.any([options.signal, this.#closing.signal]);
  }

  /** Maps a transport failure to Tenure's codes, naming the backend, election, operation and key. */
  #mapError(error: unknown, operation: string, name: string): TenureError {
    if (TenureError.is(error)) return error;
    const context = { backend: BACKEND, election: name, operation, cause: error };
    const key = this.keyOf(name);
    if (!(error instanceof TransportError)) {
      return new TenureError("INTERNAL", `unexpected error: ${String(error)}`, context);
    }
    if (error.reason === "aborted" && this.#closed) return this.#closedError(name, operation);
    if (error.reason === "aborted") {
      return new UnavailableError("the call was aborted before the Consul agent answered", context);
    }
    if (error.reason !== "response") {
      return new UnavailableError(`the Consul agent did not answer (${error.message})`, context);
    }
    const status = error.status ?? 0;
    const denied = error.txnErrors.find((text) => /permission denied|ACL not found/i.test(text));
    if (status === 403 || status === 401 || denied !== undefined) {
      const access = operation === "get" || operation === "watch" ? "read" : "write";
      return new PermissionDeniedError(
        `the ACL token may not ${access} key "${key}" (${denied ?? error.message})`,
        {
          ...context,
          remedy: `give the token a policy with key_prefix "${this.keyPrefix}" { policy = "${access === "read" ? "read" : "write"}" } and pass it as the token option`,
        },
      );
    }
    if (status === 409 && error.txnErrors.some((text) => /index is stale/i.test(text))) {
      return new ConflictError(
        operation === "create"
          ? "the lock already exists"
          : "the lock's version moved or it no longer exists",
        { backend: BACKEND, election: name, operation },
      );
    }
    if (status === 429 || status >= 500) {
      return new UnavailableError(`the Consul agent could not serve the request (${error.message})`, context);
    }
    if (status === 400 || status === 413) {
      return new InvalidArgumentError("request", `Consul refused it: ${error.message}`, context);
    }
    return new TenureError("INTERNAL", `unexpected answer from Consul (${error.message})`, {
      ...context,
      remedy: "please report this with the Consul version",
    });
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
  const decoded = decodeRecord(entry.value);
  return "record" in decoded
    ? { version, record: decoded.record }
    : { version, record: null, corruption: decoded.corruption };
}

/** A version this store handed out: a ModifyIndex, a positive integer in decimal. */
function parseVersion(version: string): number | undefined {
  if (typeof version !== "string" || !/^[1-9]\d*$/.test(version)) return undefined;
  const index = Number(version);
  return Number.isSafeInteger(index) ? index : undefined;
}

/** Whether `value` looks like a Node HTTP(S) agent, from this or any other realm or copy. */
function isAgent(value: unknown): value is HttpAgent {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { addRequest?: unknown }).addRequest === "function" &&
    typeof (value as { destroy?: unknown }).destroy === "function"
  );
}

/** Where the agent is, from the connection settings. */
function connectionOptions(options: ConsulLockStoreOptions): Omit<Endpoint, "agent"> {
  let host = options.host ?? "127.0.0.1";
  let port = options.port;
  let secure = options.secure ?? options.tls !== undefined;
  if (options.address !== undefined) {
    if (options.host !== undefined || options.port !== undefined) {
      throw new InvalidArgumentError("address", "give either address or host/port, not both", {
        backend: BACKEND,
      });
    }
    const parsed = parseAddress(options.address);
    host = parsed.host;
    port = parsed.port ?? port;
    secure = options.secure ?? (parsed.secure || options.tls !== undefined);
  }
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65_535)) {
    throw new InvalidArgumentError("port", "must be an integer from 1 to 65535", { backend: BACKEND });
  }
  if (options.tls !== undefined && !secure) {
    throw new InvalidArgumentError("tls", "TLS settings need secure: true (HTTPS)", { backend: BACKEND });
  }
  return {
    protocol: secure ? "https:" : "http:",
    host,
    port: port ?? 8500,
    tls: secure ? { ...options.tls } : undefined,
  };
}

function parseAddress(address: string): { host: string; port: number | undefined; secure: boolean } {
  const withScheme = /^[a-z]+:\/\//i.test(address) ? address : `http://${address}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new InvalidArgumentError("address", `"${address}" must be host:port or an http(s) URL`, {
      backend: BACKEND,
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidArgumentError("address", `"${address}" must use http or https`, { backend: BACKEND });
  }
  if (url.pathname !== "/" && url.pathname !== "") {
    throw new InvalidArgumentError("address", `"${address}" must not have a path`, { backend: BACKEND });
  }
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port === "" ? undefined : Number(url.port),
    secure: url.protocol === "https:",
  };
}
