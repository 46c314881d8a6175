import type { LeaderRecord, LockStore, OperationOptions, Snapshot, StoreCapabilities } from "@tenure/core";
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
import type { Etcd3, IKeyValue, IOptions, IWatchResponse, Watcher } from "etcd3";
// etcd3 is CommonJS: take the runtime values from its module object, the types from its typings.
import etcd3 from "etcd3";
import { BACKEND, classify, mapFailure, neverSent } from "./errors.js";

/** TLS material for the connection to etcd (PEM), as etcd3 / gRPC's `createSsl` takes it. */
export interface EtcdCredentials {
  /** CA certificate(s) that signed the etcd server's certificate. */
  readonly rootCertificate: Buffer;
  /** Client private key, when etcd requires client certificates (`--client-cert-auth`). */
  readonly privateKey?: Buffer;
  /** Client certificate chain matching `privateKey`. */
  readonly certChain?: Buffer;
}

/** etcd user/password authentication (`etcdctl auth enable`). */
export interface EtcdAuth {
  readonly username: string;
  readonly password: string;
}

/** Options of {@link EtcdLockStore}. Give either `client` or `hosts`. */
export interface EtcdLockStoreOptions {
  /**
   * An etcd3 client you already have. The store uses it as is (its TLS, auth and retry policies)
   * and leaves it open on `close()`. Exclusive with `hosts`, `credentials` and `auth`.
   */
  readonly client?: Etcd3;
  /**
   * etcd endpoints for a client this store creates and owns, e.g. `["https://10.0.0.1:2379"]`.
   * Default `"http://127.0.0.1:2379"` when neither `client` nor `hosts` is given.
   */
  readonly hosts?: string | readonly string[];
  /** TLS for the owned client: root CA, and a client certificate and key if etcd asks for one. */
  readonly credentials?: EtcdCredentials;
  /** User/password auth for the owned client. The user needs readwrite on `keyPrefix`. */
  readonly auth?: EtcdAuth;
  /**
   * Prefix of every lock key: election `name` lives at `<keyPrefix><name>`. Keep it private to
   * Tenure (see the README's Safety section). Default `"tenure/elections/"`.
   */
  readonly keyPrefix?: string;
  /**
   * Longest a call (or setting up a watch) may take before it rejects with UNAVAILABLE, in
   * milliseconds. Passed to etcd as the gRPC deadline too, so the server drops late work.
   * Default 5000.
   */
  readonly requestTimeoutMs?: number;
}

/** Default of {@link EtcdLockStoreOptions.keyPrefix}. */
export const DEFAULT_KEY_PREFIX = "tenure/elections/";
/** Default of {@link EtcdLockStoreOptions.requestTimeoutMs}. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;

/** Most attempts of one call that gRPC cancelled unsent (see `#call`). */
const MAX_ATTEMPTS = 3;

/** gRPC keepalive ping period of an owned client: detects a dead watch stream on an idle connection. */
const KEEPALIVE_TIME_MS = 10_000;

/** gRPC call options (deadline, interceptors), as etcd3's KV client takes them. */
type CallOptions = NonNullable<Parameters<Etcd3["kv"]["range"]>[1]>;
/** A grpc-js call interceptor, typed through etcd3's declarations (grpc-js is etcd3's dependency). */
type Interceptor = NonNullable<CallOptions["interceptors"]>[number];
type InterceptingCall = ReturnType<Interceptor>;
/** The public methods of grpc-js's InterceptingCall: what grpc-js calls on an interceptor's result. */
type InterceptingCallMethods = Pick<InterceptingCall, keyof InterceptingCall>;

/**
 * Makes a call wait for a connection ("wait for ready", gRPC's term) instead of failing at once
 * while its channel is reconnecting. Without it, a call that reaches a channel in reconnect
 * backoff fails with UNAVAILABLE ("No connection established") although the store is back and
 * the channel would be ready within milliseconds: after every outage the first call would fail,
 * and a leader could lose its term to a failure that was already over. The wait is bounded by the
 * call's deadline, so a call during an outage still fails with UNAVAILABLE within the request
 * timeout.
 *
 * grpc-js reads the flag from the call's metadata options. The metadata etcd3 passes is shared by
 * every call of its client, so the interceptor marks a copy. It delegates every other operation
 * unchanged; grpc-js calls only the methods of `InterceptingCallInterface` on it (the declared
 * return type names the class, hence the cast).
 */
const waitForReady: Interceptor = (options, nextCall) => {
  const next = nextCall(options);
  const call: InterceptingCallMethods = {
    start(metadata, listener) {
      const marked = metadata.clone();
      marked.setOptions({ ...metadata.getOptions(), waitForReady: true });
      next.start(marked, listener);
    },
    sendMessageWithContext: (context, message) => next.sendMessageWithContext(context, message),
    sendMessage: (message) => next.sendMessage(message),
    startRead: () => next.startRead(),
    halfClose: () => next.halfClose(),
    cancelWithStatus: (status, details) => next.cancelWithStatus(status, details),
    getPeer: () => next.getPeer(),
    getAuthContext: () => next.getAuthContext(),
  };
  return call as unknown as InterceptingCall;
};

type FaultPolicy = NonNullable<NonNullable<IOptions["faultHandling"]>["global"]>;

/**
 * A policy that runs the call once. etcd3's defaults retry a failed call three times and open a
 * circuit breaker for five seconds after three failures; for a lock store both are wrong: a
 * retried Txn whose first attempt committed reports CONFLICT for a write that won, retries
 * stretch the time to UNAVAILABLE, and an open breaker keeps a healed connection unused. The
 * Elector retries on its own schedule instead.
 */
const runOnce: FaultPolicy = {
  // A type-level marker of cockatiel's IPolicy ("never defined" per its docs), not a value.
  _altReturn: undefined as never,
  onSuccess: () => ({ dispose: () => {} }),
  onFailure: () => ({ dispose: () => {} }),
  execute: async (fn, signal) => fn({ signal: signal ?? new AbortController().signal }),
};

const utf8 = new TextDecoder("utf-8", { fatal: true });
const REVISION = /^[1-9][0-9]{0,18}$/;

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

  readonly #client: Etcd3;
  readonly #ownsClient: boolean;
  readonly #user: string | undefined;
  /** Ends open watches: with UNAVAILABLE when the connection failed, with CLOSED on close(). */
  readonly #watchBreakers = new Set<(error: TenureError) => void>();
  #closed = false;

  constructor(options: EtcdLockStoreOptions = {}) {
    const invalid = (field: string, rule: string): never => {
      throw new InvalidArgumentError(field, rule, { backend: BACKEND });
    };
    const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    if (typeof keyPrefix !== "string" || keyPrefix.length === 0) {
      invalid("keyPrefix", 'must be a non-empty string, e.g. "tenure/elections/"');
    }
    const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!Number.isFinite(requestTimeoutMs) || requestTimeoutMs <= 0) {
      invalid("requestTimeoutMs", "must be a positive number of milliseconds");
    }
    this.keyPrefix = keyPrefix;
    this.requestTimeoutMs = requestTimeoutMs;

    if (options.client !== undefined) {
      for (const field of ["hosts", "credentials", "auth"] as const) {
        if (options[field] !== undefined) {
          invalid(field, "cannot be combined with `client`: configure the client you pass instead");
        }
      }
      this.#client = options.client;
      this.#ownsClient = false;
      this.#user = undefined;
      return;
    }
    const hosts = options.hosts ?? "http://127.0.0.1:2379";
    const hostList = typeof hosts === "string" ? [hosts] : [...hosts];
    if (hostList.length === 0 || hostList.some((host) => typeof host !== "string" || host === "")) {
      invalid("hosts", 'must be one or more etcd endpoints such as "http://127.0.0.1:2379"');
    }
    if (
      options.auth !== undefined &&
      (options.auth.username === "" || typeof options.auth.password !== "string")
    ) {
      invalid("auth", "needs a non-empty username and a password");
    }
    this.#user = options.auth?.username;
    this.#client = new etcd3.Etcd3({
      hosts: hostList,
      ...(options.credentials === undefined ? {} : { credentials: { ...options.credentials } }),
      ...(options.auth === undefined
        ? {}
        : { auth: { username: options.auth.username, password: options.auth.password } }),
      // Bounds the calls etcd3 makes on its own, such as the auth token exchange.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + requestTimeoutMs }),
      faultHandling: { global: runOnce, host: () => runOnce },
      grpcOptions: {
        // A fresh connection whenever etcd3 resets its channels after a failure, instead of a
        // shared subchannel that may sit in reconnect backoff after the network has healed.
        "grpc.use_local_subchannel_pool": 1,
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 1000,
        // Pings while a watch is open, so a silently dropped connection ends the watch. etcd
        // rejects pings more often than every 5 s (--grpc-keepalive-min-time).
        "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
        "grpc.keepalive_timeout_ms": Math.max(1000, Math.min(requestTimeoutMs, 20_000)),
      },
    });
    this.#ownsClient = true;
  }

  /** The etcd key that holds election `name`. */
  keyOf(name: string): string {
    return `${this.keyPrefix}${name}`;
  }

  get(name: string, options?: OperationOptions): Promise<Snapshot | null> {
    return this.#call("get", name, options, async (callOptions) => {
      const response = await this.#client.kv.range({ key: Buffer.from(this.keyOf(name)) }, callOptions);
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

  /**
   * Watches the key. The watcher is set up first and the key read after, so no change can fall
   * between the read and the first event; events already reflected in the read (mod_revision up
   * to the read's revision) are skipped. A break of the stream (connection lost, watch cancelled
   * by etcd, a failed call on this store's connection) throws UNAVAILABLE instead of letting etcd3
   * reconnect silently: the Elector re-watches, which re-reads the current state.
   */
  async *watch(name: string, signal: AbortSignal): AsyncIterable<Snapshot | null> {
    assertValidElectionName(name, { backend: BACKEND });
    this.#assertOpen(name, "watch");
    if (signal.aborted) return;
    const key = this.keyOf(name);
    const context = this.#context(name, "watch");
    const unavailable = (problem: string, cause?: unknown): UnavailableError =>
      new UnavailableError(problem, {
        backend: BACKEND,
        election: name,
        operation: "watch",
        ...(cause === undefined ? {} : { cause }),
      });

    /** Changes received and not yet yielded: the key's new state, or null for a delete. */
    const changes: { readonly revision: bigint; readonly kv: IKeyValue | null }[] = [];
    let connected = false;
    let failure: TenureError | undefined;
    let wake: (() => void) | undefined;
    const poke = (): void => {
      const resolve = wake;
      wake = undefined;
      resolve?.();
    };
    const fail = (error: TenureError): void => {
      failure ??= error;
      poke();
    };
    const onConnected = (): void => {
      connected = true;
      poke();
    };
    const onData = (response: IWatchResponse): void => {
      for (const event of response.events) {
        changes.push({
          revision: BigInt(event.kv.mod_revision),
          kv: event.type === "Delete" ? null : event.kv,
        });
      }
      if (response.events.length > 0) poke();
    };
    const onBreak = (error: unknown): void => {
      const mapped = mapFailure(error, context());
      // A stream that ends is an outage, whatever etcd3 calls the reason.
      fail(
        mapped.code === "INTERNAL" ? unavailable(`the watch stream broke: ${mapped.message}`, error) : mapped,
      );
    };
    const onAbort = (): void => poke();

    let watcher: Watcher;
    try {
      watcher = this.#client.watch().key(key).watcher();
    } catch (error) {
      throw mapFailure(error, context());
    }
    watcher.on("connected", onConnected);
    watcher.on("data", onData);
    watcher.on("disconnected", onBreak);
    watcher.on("error", onBreak);
    this.#watchBreakers.add(fail);
    signal.addEventListener("abort", onAbort);
    const nextWake = (): Promise<void> =>
      new Promise<void>((resolve) => {
        wake = resolve;
      });

    try {
      // 1. Wait until etcd confirms the watcher, bounded like any call.
      const connectTimer = setTimeout(
        () => fail(unavailable(`no watch confirmation within ${this.requestTimeoutMs} ms`)),
        this.requestTimeoutMs,
      );
      try {
        while (!connected && failure === undefined && !signal.aborted) await nextWake();
      } finally {
        clearTimeout(connectTimer);
      }
      if (signal.aborted) return;
      if (failure !== undefined) throw failure;

      // 2. Read the current state; every change the watcher reports after it follows it.
      let read: Awaited<ReturnType<Etcd3["kv"]["range"]>>;
      try {
        read = await this.#call("watch", name, { signal }, (callOptions) =>
          this.#client.kv.range({ key: Buffer.from(key) }, callOptions),
        );
      } catch (error) {
        if (signal.aborted) return;
        throw error;
      }
      const readRevision = BigInt(read.header.revision);
      const current = read.kvs[0];
      yield current === undefined ? null : toSnapshot(current);

      // 3. Every later change, in commit order; those the read already showed are skipped.
      for (;;) {
        if (signal.aborted) return;
        if (failure !== undefined) throw failure;
        const change = changes.shift();
        if (change === undefined) {
          await nextWake();
        } else if (change.revision > readRevision) {
          yield change.kv === null ? null : toSnapshot(change.kv);
        }
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#watchBreakers.delete(fail);
      watcher.off("connected", onConnected);
      watcher.off("data", onData);
      watcher.off("disconnected", onBreak);
      watcher.off("error", onBreak);
      // A late stream error must not become an unhandled 'error' event.
      watcher.on("error", () => {});
      // Not awaited: over a dead connection the cancel's answer may never come, and ending the
      // iteration must not hang. etcd3 drops the watcher when its stream is re-established.
      try {
        watcher.cancel().catch(() => {});
      } catch {
        // etcd3 throws synchronously when its stream is in an unexpected state; the watcher is
        // forgotten with the stream anyway.
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const error = new ClosedError("the store was closed", { backend: BACKEND, operation: "watch" });
    for (const breakWatch of [...this.#watchBreakers]) breakWatch(error);
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
    assertValidRecord(record, { backend: BACKEND, election: name });
    if (
      expectedVersion !== undefined &&
      (typeof expectedVersion !== "string" || !REVISION.test(expectedVersion))
    ) {
      throw new InvalidArgumentError(
        "expectedVersion",
        "must be a version this store returned (an etcd mod_revision: a positive decimal integer)",
        { backend: BACKEND, election: name, operation },
      );
    }
    const key = Buffer.from(this.keyOf(name));
    const conflict = (): ConflictError =>
      new ConflictError(
        operation === "create"
          ? "the lock already exists"
          : `the lock's version is no longer ${expectedVersion} (another candidate wrote it, or it was deleted)`,
        { backend: BACKEND, election: name, operation },
      );
    // One time limit for the whole operation: a create's read and write share the call's deadline.
    const written = await this.#call(operation, name, options, async (callOptions) => {
      let stored = record;
      if (expectedVersion === undefined) {
        const read = await this.#client.kv.range({ key, count_only: true }, callOptions);
        if (String(read.count) !== "0") throw conflict();
        stored = { ...record, leaderTransitions: tokenAbove(record.leaderTransitions, read.header.revision) };
      }
      const value = Buffer.from(encodeRecord(stored));
      const response = await this.#client.kv.txn(
        {
          compare: [
            expectedVersion === undefined
              ? { key, target: "Create", result: "Equal", create_revision: 0 }
              : { key, target: "Mod", result: "Equal", mod_revision: expectedVersion },
          ],
          success: [{ request_put: { key, value } }],
          failure: [],
        },
        callOptions,
      );
      if (!response.succeeded) throw conflict();
      // The put is the transaction's only write, so it happened at the revision the header reports.
      return { mod_revision: response.header.revision, value };
    });
    return toSnapshot(written);
  }

  /**
   * Runs one etcd call: validates the name first, then races the call against the request
   * timeout and the caller's signal, and maps every failure to a TenureError. A connection-level
   * failure also ends this store's open watches, which share the connection's fate.
   */
  #call<T>(
    operation: string,
    name: string,
    options: OperationOptions | undefined,
    run: (callOptions: CallOptions) => Promise<T>,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      try {
        assertValidElectionName(name, { backend: BACKEND });
        this.#assertOpen(name, operation);
      } catch (error) {
        reject(error);
        return;
      }
      const context = this.#context(name, operation);
      const signal = options?.signal;
      let settled = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settle = (outcome: { value: T } | { error: TenureError }): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if ("value" in outcome) resolve(outcome.value);
        else reject(outcome.error);
      };
      const unavailable = (problem: string): UnavailableError =>
        new UnavailableError(problem, { backend: BACKEND, election: name, operation });
      const onAbort = (): void => settle({ error: unavailable("the call was aborted") });
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      timer = setTimeout(() => {
        this.#breakWatches(
          unavailable(`a call on this store's connection got no answer within ${this.requestTimeoutMs} ms`),
        );
        settle({ error: unavailable(`no answer within ${this.requestTimeoutMs} ms`) });
      }, this.requestTimeoutMs);
      const deadline = Date.now() + this.requestTimeoutMs;
      const callOptions: CallOptions = { deadline, interceptors: [waitForReady] };
      const attempt = async (): Promise<T> => {
        for (let attempts = 1; ; attempts++) {
          try {
            return await run(callOptions);
          } catch (error) {
            // gRPC cancelled the call before sending it, because etcd3 closed its channel after
            // another call failed there (a call waiting for a connection waits on that channel).
            // Nothing reached etcd, so running it again on etcd3's new channel is safe, even a
            // transaction; bounded by the attempts and the same deadline.
            if (settled || attempts >= MAX_ATTEMPTS || Date.now() >= deadline || !neverSent(error))
              throw error;
          }
        }
      };
      attempt().then(
        (value) => settle({ value }),
        (error: unknown) => {
          if (!this.#closed && classify(error) === "unavailable") {
            this.#breakWatches(unavailable(`a call on this store's connection failed: ${String(error)}`));
          }
          settle({ error: mapFailure(error, context()) });
        },
      );
    });
  }

  #breakWatches(error: TenureError): void {
    for (const breakWatch of [...this.#watchBreakers]) breakWatch(error);
  }

  #context(name: string, operation: string) {
    return () => ({
      election: name,
      operation,
      key: this.keyOf(name),
      keyPrefix: this.keyPrefix,
      user: this.#user,
      closed: this.#closed,
    });
  }

  #assertOpen(name: string, operation: string): void {
    if (this.#closed) {
      throw new ClosedError("the store was closed", { backend: BACKEND, election: name, operation });
    }
  }
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
 * happened at or before it. The README's "Fencing tokens" lists what this cannot cover (a record
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
  const decoded = decodeRecord(text);
  return "record" in decoded
    ? { version, record: decoded.record }
    : { version, record: null, corruption: decoded.corruption };
}
