import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { InvalidArgumentError } from "@tenure/core";
import { parseDuration } from "./duration.js";

/** The stores the sidecar can campaign on. */
export const BACKENDS = ["kubernetes", "etcd", "consul", "redis", "memory"] as const;
export type BackendName = (typeof BACKENDS)[number];

/**
 * Lock kinds on Kubernetes: `auto` (default: the 2016 annotation lock when its Endpoints object
 * exists, see kubernetes-lock.ts), a Lease, the 2016 annotation lock, or both during a migration.
 */
export const KUBERNETES_LOCKS = ["auto", "lease", "endpoints", "configmap", "migrate"] as const;
export type KubernetesLockKind = (typeof KUBERNETES_LOCKS)[number];

/** PEM files for TLS; paths as given on the command line. */
export interface TlsFiles {
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

/** Connection settings of the chosen backend. */
export type BackendSettings =
  | { readonly kind: "memory" }
  | {
      readonly kind: "kubernetes";
      readonly lock: KubernetesLockKind;
      /** Path of a kubeconfig; default in-cluster, then $KUBECONFIG / ~/.kube/config. */
      readonly kubeconfig: string | undefined;
    }
  | {
      readonly kind: "etcd";
      readonly endpoints: readonly string[];
      readonly username: string | undefined;
      readonly password: string | undefined;
      readonly tls: TlsFiles;
    }
  | {
      readonly kind: "consul";
      readonly address: string;
      readonly token: string | undefined;
      readonly datacenter: string | undefined;
      readonly tls: TlsFiles;
    }
  | {
      readonly kind: "redis";
      /** redis:// or rediss:// (TLS); user and password may be in the URL. */
      readonly url: string;
      readonly username: string | undefined;
      readonly password: string | undefined;
      readonly tls: TlsFiles;
    };

/** Everything the sidecar was told on its command line (or through environment variables). */
export interface SidecarFlags {
  /** The election (lock) name. Required. */
  readonly election: string;
  /** Namespace of the lock object on Kubernetes. Default "default". */
  readonly electionNamespace: string;
  /** This replica's identity. Default: the hostname (the pod name in Kubernetes). */
  readonly id: string;
  /** Lease duration. Default 10 s, as in the 2016 sidecar. */
  readonly ttlMs: number;
  /** Renew deadline. Default ttl / 2. */
  readonly renewDeadlineMs: number;
  /** Retry period. Default ttl / 4. */
  readonly retryPeriodMs: number;
  /** host:port to serve HTTP on; omitted means no HTTP server. */
  readonly http: { readonly host: string; readonly port: number } | undefined;
  readonly backend: BackendName;
  /** Where and how to reach the backend. */
  readonly store: BackendSettings;
  /** "text" (default) or "json" log lines. */
  readonly logFormat: "text" | "json";
  readonly logLevel: "debug" | "info" | "warn" | "error";
  /**
   * `--use-cluster-credentials` was given. The 2016 sidecar's switch to in-cluster credentials; here
   * it changes nothing (in a pod the service account is used already) and the command says so once.
   */
  readonly useClusterCredentials: boolean;
  /** Supervise mode: the command after `--`, run only while this replica leads. */
  readonly supervise: SuperviseFlags | undefined;
}

/** Supervise mode's settings: `leader-elector [flags] -- <command> [args]`. */
export interface SuperviseFlags {
  /** The program and its arguments, as given after `--`. Never empty. */
  readonly command: readonly string[];
  /**
   * How long after the term's deadline a child still running is sent SIGKILL (it got SIGTERM at the
   * deadline, or earlier at step-down). Default (ttl − renew deadline) / 2; must be below
   * ttl − renew deadline, the least time between the deadline and the earliest takeover.
   */
  readonly killGraceMs: number;
  /**
   * When the sidecar itself is stopped (SIGTERM, SIGINT): how long the child has to exit after
   * SIGTERM, while the sidecar still holds and renews the lock, before SIGKILL. Default 10 s.
   */
  readonly stopTimeoutMs: number;
}

export const USAGE = `Usage: leader-elector --election=<name> [options]
       leader-elector --election=<name> [options] -- <command> [args...]
       leader-elector demo

Runs one candidate in a leader election and answers, over HTTP, who leads. With a command after
--, runs it only while this replica leads (supervise mode): started with TENURE_FENCING_TOKEN,
TENURE_LEADER_DEADLINE and TENURE_LEADER_REMAINING_MS in its environment, sent SIGTERM when the
term ends and SIGKILL --kill-grace after the term's deadline, before any other replica can lead.

Options:
  --election <name>            election (lock) name, a DNS-1123 subdomain (required)
  --election-namespace <ns>    Kubernetes namespace of the lock (default "default")
  --id <identity>              this replica's identity (default: hostname)
  --ttl <duration>             lease duration (default 10s)
  --renew-deadline <duration>  leader gives up after this long without renewing (default ttl/2)
  --retry-period <duration>    renew and retry interval (default ttl/4)
  --http <host:port>           serve GET / {"name":"<leader>"}, /healthz, /readyz, /metrics
  --backend <name>             store: ${BACKENDS.join(", ")}
                               (default kubernetes inside a cluster, memory elsewhere)
  --lock <kind>                Kubernetes lock: ${KUBERNETES_LOCKS.join(", ")} (default auto: the
                               2016 annotation lock if endpoints/<election> exists, else a Lease)
  --kubeconfig <path>          kubeconfig (default in-cluster, then $KUBECONFIG, ~/.kube/config)
  --use-cluster-credentials    accepted for the 2016 sidecar's command lines; changes nothing
  --etcd-endpoints <urls>      comma-separated (default http://127.0.0.1:2379; TENURE_ETCD_ENDPOINTS)
  --etcd-username/-password    etcd auth (TENURE_ETCD_USERNAME, TENURE_ETCD_PASSWORD)
  --etcd-ca/-cert/-key <file>  etcd TLS
  --consul-addr <host:port>    Consul agent (default 127.0.0.1:8500; TENURE_CONSUL_ADDR, CONSUL_HTTP_ADDR)
  --consul-token <token>       ACL token (TENURE_CONSUL_TOKEN, CONSUL_HTTP_TOKEN)
  --consul-datacenter <dc>     datacenter
  --consul-ca/-cert/-key       Consul TLS
  --redis-url <url>            redis:// or rediss:// (default redis://127.0.0.1:6379; TENURE_REDIS_URL)
  --redis-username/-password   Redis ACL user (TENURE_REDIS_USERNAME, TENURE_REDIS_PASSWORD)
  --redis-ca <file>            Redis TLS CA
  --log-format <text|json>     log line format (default text)
  --log-level <level>          debug, info, warn or error (default info)
  --kill-grace <duration>      supervise: SIGKILL this long after the term's deadline
                               (default (ttl - renew-deadline)/2, must be less than ttl - renew-deadline)
  --stop-timeout <duration>    supervise: on SIGTERM/SIGINT, time the child has to exit (default 10s)
  -h, --help                   show this help

Environment: TENURE_ELECTION, TENURE_ID, TENURE_HTTP, TENURE_BACKEND stand in for the flags;
secrets are best passed in the environment variables named above.
`;

/** Parses the command line. Throws InvalidArgumentError naming the flag and the rule. */
export function parseFlags(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): SidecarFlags {
  // Everything after the first "--" is the supervised command, taken as is.
  const separator = argv.indexOf("--");
  const command = separator === -1 ? undefined : argv.slice(separator + 1);
  if (command !== undefined && command.length === 0) {
    throw new InvalidArgumentError("--", "must be followed by the command to supervise");
  }
  const flagArgs = (separator === -1 ? argv : argv.slice(0, separator)).map(legacyBoolean);
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: flagArgs,
      strict: true,
      allowPositionals: false,
      allowNegative: true,
      options: {
        election: { type: "string" },
        "election-namespace": { type: "string" },
        id: { type: "string" },
        ttl: { type: "string" },
        "renew-deadline": { type: "string" },
        "retry-period": { type: "string" },
        http: { type: "string" },
        backend: { type: "string" },
        lock: { type: "string" },
        kubeconfig: { type: "string" },
        "etcd-endpoints": { type: "string" },
        "etcd-username": { type: "string" },
        "etcd-password": { type: "string" },
        "etcd-ca": { type: "string" },
        "etcd-cert": { type: "string" },
        "etcd-key": { type: "string" },
        "consul-addr": { type: "string" },
        "consul-token": { type: "string" },
        "consul-datacenter": { type: "string" },
        "consul-ca": { type: "string" },
        "consul-cert": { type: "string" },
        "consul-key": { type: "string" },
        "redis-url": { type: "string" },
        "redis-username": { type: "string" },
        "redis-password": { type: "string" },
        "redis-ca": { type: "string" },
        "log-format": { type: "string" },
        "log-level": { type: "string" },
        "use-cluster-credentials": { type: "boolean" },
        "kill-grace": { type: "string" },
        "stop-timeout": { type: "string" },
      },
    }).values;
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    const hint = /positional/.test(message ?? "") ? "; to supervise a command, put it after --" : "";
    throw new InvalidArgumentError("arguments", `${message ?? "unreadable"}${hint}; see --help`);
  }
  const text = (name: string, fallback?: string): string | undefined => {
    const value = values[name];
    return typeof value === "string" ? value : fallback;
  };

  const election = text("election", env.TENURE_ELECTION);
  if (election === undefined || election === "") throw new InvalidArgumentError("--election", "is required");
  const id = text("id", env.TENURE_ID ?? hostname()) ?? hostname();
  if (id === "") throw new InvalidArgumentError("--id", "must not be empty (default: the hostname)");
  const ttlMs = parseDuration("--ttl", text("ttl", "10s") ?? "10s");
  const renewText = text("renew-deadline");
  const retryText = text("retry-period");
  const renewDeadlineMs = renewText === undefined ? ttlMs / 2 : parseDuration("--renew-deadline", renewText);
  const retryPeriodMs = retryText === undefined ? ttlMs / 4 : parseDuration("--retry-period", retryText);
  if (renewDeadlineMs >= ttlMs) {
    throw new InvalidArgumentError(
      "--renew-deadline",
      `must be shorter than --ttl (${ttlMs} ms), got ${renewDeadlineMs} ms`,
    );
  }
  if (renewDeadlineMs <= 1.2 * retryPeriodMs) {
    throw new InvalidArgumentError(
      "--retry-period",
      `must be shorter than --renew-deadline / 1.2 (${Math.floor(renewDeadlineMs / 1.2)} ms), got ${retryPeriodMs} ms`,
    );
  }
  // In a cluster the 2016 sidecar's store is the natural default; elsewhere the embedded one.
  const defaultBackend = (env.KUBERNETES_SERVICE_HOST ?? "") === "" ? "memory" : "kubernetes";
  const backend = text("backend", env.TENURE_BACKEND ?? defaultBackend) ?? defaultBackend;
  if (!(BACKENDS as readonly string[]).includes(backend)) {
    throw new InvalidArgumentError("--backend", `must be one of ${BACKENDS.join(", ")}, got "${backend}"`);
  }
  const logFormat = text("log-format", "text");
  if (logFormat !== "text" && logFormat !== "json") {
    throw new InvalidArgumentError("--log-format", `must be text or json, got "${logFormat}"`);
  }
  const logLevel = text("log-level", "info");
  if (logLevel !== "debug" && logLevel !== "info" && logLevel !== "warn" && logLevel !== "error") {
    throw new InvalidArgumentError("--log-level", `must be debug, info, warn or error, got "${logLevel}"`);
  }
  if (backend === "kubernetes" && ttlMs % 1000 !== 0) {
    throw new InvalidArgumentError(
      "--ttl",
      `must be whole seconds on Kubernetes (the lock stores leaseDurationSeconds), got ${ttlMs} ms`,
    );
  }
  const httpText = text("http", env.TENURE_HTTP);
  return {
    election,
    electionNamespace: text("election-namespace", "default") ?? "default",
    id,
    ttlMs,
    renewDeadlineMs,
    retryPeriodMs,
    http: httpText === undefined ? undefined : parseHostPort(httpText),
    backend: backend as BackendName,
    store: backendSettings(backend as BackendName, text, env),
    logFormat,
    logLevel,
    useClusterCredentials: values["use-cluster-credentials"] === true,
    supervise: superviseFlags(command, text, ttlMs, renewDeadlineMs),
  };
}

/**
 * The 2016 sidecar parsed its flags with Go's pflag, where a boolean also takes `=true` or `=false`;
 * node's parser takes a bare boolean or its `--no-` form, so the value is turned into one of those.
 */
function legacyBoolean(arg: string): string {
  const match = /^--use-cluster-credentials=(.*)$/.exec(arg);
  if (match === null) return arg;
  const value = (match[1] ?? "").toLowerCase();
  if (value === "true" || value === "1" || value === "t") return "--use-cluster-credentials";
  if (value === "false" || value === "0" || value === "f") return "--no-use-cluster-credentials";
  throw new InvalidArgumentError("--use-cluster-credentials", `must be true or false, got "${match[1]}"`);
}

function superviseFlags(
  command: readonly string[] | undefined,
  text: (name: string, fallback?: string) => string | undefined,
  ttlMs: number,
  renewDeadlineMs: number,
): SuperviseFlags | undefined {
  const killText = text("kill-grace");
  const stopText = text("stop-timeout");
  if (command === undefined) {
    const stray =
      killText !== undefined ? "--kill-grace" : stopText !== undefined ? "--stop-timeout" : undefined;
    if (stray !== undefined) {
      throw new InvalidArgumentError(stray, "applies to supervise mode only: put the command after --");
    }
    return undefined;
  }
  // The least time between a term's deadline and the earliest moment another replica can take over.
  const marginMs = ttlMs - renewDeadlineMs;
  const killGraceMs = killText === undefined ? marginMs / 2 : parseDuration("--kill-grace", killText);
  if (killGraceMs >= marginMs) {
    throw new InvalidArgumentError(
      "--kill-grace",
      `must be shorter than --ttl minus --renew-deadline (${marginMs} ms): a child must be killed before another replica can take over, got ${killGraceMs} ms`,
    );
  }
  return {
    command,
    killGraceMs,
    stopTimeoutMs: stopText === undefined ? 10_000 : parseDuration("--stop-timeout", stopText),
  };
}

/** Reads the chosen backend's settings from flags, then environment variables, then loopback defaults. */
function backendSettings(
  backend: BackendName,
  text: (name: string, fallback?: string) => string | undefined,
  env: NodeJS.ProcessEnv,
): BackendSettings {
  const tls = (prefix: string): TlsFiles => ({
    ...optional("caFile", text(`${prefix}-ca`)),
    ...optional("certFile", text(`${prefix}-cert`)),
    ...optional("keyFile", text(`${prefix}-key`)),
  });
  switch (backend) {
    case "memory":
      return { kind: "memory" };
    case "kubernetes": {
      const lock = text("lock", "auto") ?? "auto";
      if (!(KUBERNETES_LOCKS as readonly string[]).includes(lock)) {
        throw new InvalidArgumentError(
          "--lock",
          `must be one of ${KUBERNETES_LOCKS.join(", ")}, got "${lock}"`,
        );
      }
      return {
        kind: "kubernetes",
        lock: lock as KubernetesLockKind,
        kubeconfig: text("kubeconfig", env.KUBECONFIG),
      };
    }
    case "etcd": {
      const endpoints = (text("etcd-endpoints", env.TENURE_ETCD_ENDPOINTS) ?? "http://127.0.0.1:2379")
        .split(",")
        .map((endpoint) => endpoint.trim())
        .filter((endpoint) => endpoint !== "");
      for (const endpoint of endpoints) assertUrl("--etcd-endpoints", endpoint, ["http:", "https:"]);
      return {
        kind: "etcd",
        endpoints,
        username: text("etcd-username", env.TENURE_ETCD_USERNAME),
        password: text("etcd-password", env.TENURE_ETCD_PASSWORD),
        tls: tls("etcd"),
      };
    }
    case "consul": {
      const address = text("consul-addr", env.TENURE_CONSUL_ADDR ?? env.CONSUL_HTTP_ADDR) ?? "127.0.0.1:8500";
      assertUrl("--consul-addr", /^[a-z]+:\/\//.test(address) ? address : `http://${address}`, [
        "http:",
        "https:",
      ]);
      return {
        kind: "consul",
        address,
        token: text("consul-token", env.TENURE_CONSUL_TOKEN ?? env.CONSUL_HTTP_TOKEN),
        datacenter: text("consul-datacenter"),
        tls: tls("consul"),
      };
    }
    case "redis": {
      const url = text("redis-url", env.TENURE_REDIS_URL) ?? "redis://127.0.0.1:6379";
      assertUrl("--redis-url", url, ["redis:", "rediss:"]);
      return {
        kind: "redis",
        url,
        username: text("redis-username", env.TENURE_REDIS_USERNAME),
        password: text("redis-password", env.TENURE_REDIS_PASSWORD),
        tls: tls("redis"),
      };
    }
  }
}

function optional<Key extends string>(key: Key, value: string | undefined): { [K in Key]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [K in Key]?: string };
}

function assertUrl(flag: string, text: string, protocols: readonly string[]): void {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError(flag, `"${text}" is not a URL`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new InvalidArgumentError(
      flag,
      `"${text}" must start with ${protocols.map((protocol) => `${protocol}//`).join(" or ")}`,
    );
  }
}

/** "0.0.0.0:4040", ":4040" (all interfaces) or "[::1]:4040". */
export function parseHostPort(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (match === null || !Number.isInteger(port) || port > 65_535) {
    throw new InvalidArgumentError(
      "--http",
      `"${text}" is not host:port (for example 0.0.0.0:4040 or :4040)`,
    );
  }
  const host = match[1] ?? match[2] ?? "";
  return { host: host === "" ? "0.0.0.0" : host, port };
}
