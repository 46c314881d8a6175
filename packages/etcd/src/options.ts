import { InvalidArgumentError } from "@tenure/core";
import { exclusive, integerIn, nonEmptyString, positiveMs } from "@tenure/core/adapter";
import type { Etcd3, IOptions } from "etcd3";
// etcd3 is CommonJS: take the runtime values from its module object, the types from its typings.
import etcd3 from "etcd3";
import { DEFAULT_MAX_REQUESTS_PER_TRANSACTION, MAX_REQUESTS_PER_TRANSACTION } from "./batch.js";
import { BACKEND } from "./errors.js";

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
  /**
   * Most requests (reads and compare-and-swap writes) of different elections that one etcd
   * transaction carries. Requests asked for in the same turn of the event loop leave as one
   * transaction: a read as a range request, a write as a nested transaction with its own compare,
   * so each write commits or fails on its own version. A process running many elections then
   * renews them in a few round trips instead of one each. 1 sends every request alone. At most
   * 127: etcd refuses larger transactions at its default `--max-txn-ops` (128); set it lower if your
   * cluster's limit is lower. Nested transactions need etcd 3.3 or later. Default 100.
   */
  readonly maxRequestsPerTransaction?: number;
}

/** Default of {@link EtcdLockStoreOptions.keyPrefix}. */
export const DEFAULT_KEY_PREFIX = "tenure/elections/";
/** Default of {@link EtcdLockStoreOptions.requestTimeoutMs}. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;

/** gRPC keepalive ping period of an owned client: detects a dead watch stream on an idle connection. */
const KEEPALIVE_TIME_MS = 10_000;

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

/** The options checked, with their defaults, and the client the store talks through. */
export interface EtcdSettings {
  readonly keyPrefix: string;
  readonly requestTimeoutMs: number;
  readonly maxRequestsPerTransaction: number;
  readonly client: Etcd3;
  /** The store created the client, so it closes it. */
  readonly ownsClient: boolean;
  /** The etcd user of an owned client, named in permission errors. */
  readonly user: string | undefined;
}

/** Checks the options (throwing InvalidArgumentError naming the field) and opens the client if none was given. */
export function settingsOf(options: EtcdLockStoreOptions): EtcdSettings {
  const where = { backend: BACKEND };
  const keyPrefix = nonEmptyString("keyPrefix", options.keyPrefix, DEFAULT_KEY_PREFIX, where);
  const requestTimeoutMs = positiveMs(
    "requestTimeoutMs",
    options.requestTimeoutMs,
    DEFAULT_REQUEST_TIMEOUT_MS,
    where,
  );
  const maxRequestsPerTransaction = integerIn(
    "maxRequestsPerTransaction",
    options.maxRequestsPerTransaction,
    1,
    MAX_REQUESTS_PER_TRANSACTION,
    DEFAULT_MAX_REQUESTS_PER_TRANSACTION,
    where,
  );
  if (options.client !== undefined) {
    // A client passed in carries its own connection settings: these would be silently ignored.
    for (const field of ["hosts", "credentials", "auth"] as const) {
      exclusive(options as Readonly<Record<string, unknown>>, [field, "client"], where);
    }
    return {
      keyPrefix,
      requestTimeoutMs,
      maxRequestsPerTransaction,
      client: options.client,
      ownsClient: false,
      user: undefined,
    };
  }
  const hosts = options.hosts ?? "http://127.0.0.1:2379";
  const hostList = typeof hosts === "string" ? [hosts] : [...hosts];
  if (hostList.length === 0 || hostList.some((host) => typeof host !== "string" || host === "")) {
    throw new InvalidArgumentError(
      "hosts",
      'must be one or more etcd endpoints such as "http://127.0.0.1:2379"',
      where,
    );
  }
  const { auth, credentials } = options;
  if (auth !== undefined && (auth.username === "" || typeof auth.password !== "string")) {
    throw new InvalidArgumentError("auth", "needs a non-empty username and a password", where);
  }
  const client = new etcd3.Etcd3({
    hosts: hostList,
    ...(credentials === undefined ? {} : { credentials: { ...credentials } }),
    ...(auth === undefined ? {} : { auth: { username: auth.username, password: auth.password } }),
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
  return {
    keyPrefix,
    requestTimeoutMs,
    maxRequestsPerTransaction,
    client,
    ownsClient: true,
    user: auth?.username,
  };
}
