import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { SecureContextOptions } from "node:tls";
import { InvalidArgumentError } from "@tenure/core";
import { exclusive, oneOf, positiveMs } from "@tenure/core/adapter";
import { BACKEND } from "./errors.js";
import type { Endpoint } from "./http.js";
import { type ConsistencyMode, ConsulTransport } from "./transport.js";

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

/** The options checked, with their defaults, and the transport the store calls through. */
export interface ConsulSettings {
  readonly keyPrefix: string;
  readonly requestTimeoutMs: number;
  readonly watchWaitMs: number;
  /** The connection pool; the store destroys it on close only if it created it (`ownsAgent`). */
  readonly agent: HttpAgent | HttpsAgent;
  readonly ownsAgent: boolean;
  readonly transport: ConsulTransport;
}

/** Checks the options (throwing InvalidArgumentError naming the field) and sets up the connection pool. */
export function settingsOf(options: ConsulLockStoreOptions): ConsulSettings {
  const where = { backend: BACKEND };
  const fail = (field: string, rule: string): never => {
    throw new InvalidArgumentError(field, rule, where);
  };
  const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  // May be empty (keys at the root), unlike most prefixes: not the kit's nonEmptyString.
  if (typeof keyPrefix !== "string" || keyPrefix.startsWith("/")) {
    fail("keyPrefix", "must be a string that does not start with '/' (Consul keys have no leading slash)");
  }
  const requestTimeoutMs = positiveMs(
    "requestTimeoutMs",
    options.requestTimeoutMs,
    DEFAULT_REQUEST_TIMEOUT_MS,
    where,
  );
  const watchWaitMs = positiveMs("watchWaitMs", options.watchWaitMs, DEFAULT_WATCH_WAIT_MS, where);
  if (watchWaitMs < 1 || watchWaitMs > 600_000) {
    fail("watchWaitMs", "must be between 1 and 600000 milliseconds (Consul's limit is 10 minutes)");
  }
  const consistency = oneOf(
    "consistency",
    options.consistency,
    ["default", "consistent", "stale"] as const,
    "default",
    where,
  );
  for (const field of ["token", "datacenter"] as const) {
    const value = options[field];
    if (value !== undefined && typeof value !== "string") fail(field, "must be a string when given");
  }
  // An empty token or datacenter means "not set", as in Consul's own CONSUL_HTTP_TOKEN handling.
  const token = options.token === "" ? undefined : options.token;
  const datacenter = options.datacenter === "" ? undefined : options.datacenter;
  const connection = connectionOptions(options);
  const { agent } = options;
  if (agent !== undefined) {
    if (!isAgent(agent)) fail("agent", "must be an http.Agent or https.Agent");
    // Node refuses an https request through an http.Agent (and the reverse) on every call.
    const expected = connection.protocol;
    // `protocol` is set by Node's Agent constructors ("http:" / "https:") but not in its typings.
    if ((agent as { protocol?: unknown }).protocol !== expected) {
      fail(
        "agent",
        `must be an ${expected === "https:" ? "https" : "http"}.Agent for an ${expected.slice(0, -1)} address`,
      );
    }
  }
  // Keep-alive: a leader renews every retry period and followers hold a blocking query, so
  // connections are reused rather than opened per call.
  const pool =
    agent ??
    (connection.protocol === "https:"
      ? new HttpsAgent({ keepAlive: true })
      : new HttpAgent({ keepAlive: true }));
  const endpoint: Endpoint = { ...connection, agent: pool };
  return {
    keyPrefix,
    requestTimeoutMs,
    watchWaitMs,
    agent: pool,
    ownsAgent: agent === undefined,
    transport: new ConsulTransport(endpoint, { token, datacenter }, consistency),
  };
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
    // Either an address or host/port (host and port together are fine).
    for (const field of ["host", "port"] as const) {
      exclusive(options as Readonly<Record<string, unknown>>, ["address", field], { backend: BACKEND });
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
