/**
 * @tenure/backends: one registry from a backend name and its typed options to a LockStore. Programs
 * that let their user pick the store at run time (the sidecar, the benchmark, the fault campaign)
 * open it here, so each backend is wired in one place. Adapters are imported on demand: a process
 * loads the client library of its own store only.
 */
import type { LockStore, Logger } from "@tenure/core";
import { InvalidArgumentError } from "@tenure/core";

/** TLS material in PEM: the CA that signed the server's certificate, and a client certificate and key. */
export interface TlsPem {
  readonly ca?: Buffer | undefined;
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
}

/** Redis, standalone (see `@tenure/redis` for Cluster, or a client of your own). */
export interface RedisBackend {
  readonly backend: "redis";
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  readonly url: string;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly tls?: TlsPem | undefined;
  readonly keyPrefix?: string | undefined;
  readonly requestTimeoutMs?: number | undefined;
}

/** etcd v3. */
export interface EtcdBackend {
  readonly backend: "etcd";
  /** Client URLs of the members, e.g. `["http://127.0.0.1:2379"]`. */
  readonly hosts: readonly string[];
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** `ca` is required for TLS; `cert` and `key` when etcd asks for client certificates. */
  readonly tls?: TlsPem | undefined;
  readonly keyPrefix?: string | undefined;
  readonly requestTimeoutMs?: number | undefined;
}

/** Consul's HTTP API (an agent). */
export interface ConsulBackend {
  readonly backend: "consul";
  /** `host:port` or URL of the agent's HTTP API. */
  readonly address: string;
  /** ACL token. */
  readonly token?: string | undefined;
  readonly datacenter?: string | undefined;
  readonly tls?: TlsPem | undefined;
  readonly keyPrefix?: string | undefined;
  readonly requestTimeoutMs?: number | undefined;
}

/** Kubernetes: a Lease, the 2016 annotation on an Endpoints or ConfigMap object, or both while migrating. */
export interface KubernetesBackend {
  readonly backend: "kubernetes";
  /** Path of a kubeconfig. Default: in a pod its service account, else `KUBECONFIG` / `~/.kube/config`. */
  readonly kubeconfig?: string | undefined;
  /** Replaces the kubeconfig's server URL (to reach the apiserver through a proxy). Default: as in the file. */
  readonly server?: string | undefined;
  readonly namespace?: string | undefined;
  /** Default `"lease"`. `"migrate"` holds the Endpoints annotation and the Lease at once. */
  readonly lock?: "lease" | "endpoints" | "configmap" | "migrate" | undefined;
  readonly requestTimeoutMs?: number | undefined;
}

/** An in-process store, private to this process (a demo, a test). */
export interface MemoryBackend {
  readonly backend: "memory";
}

/** Everything needed to open a store, by backend. */
export type BackendConfig = RedisBackend | EtcdBackend | ConsulBackend | KubernetesBackend | MemoryBackend;

/** The backend names this registry knows. */
export const backendNames = ["redis", "etcd", "consul", "kubernetes", "memory"] as const;
export type BackendName = (typeof backendNames)[number];

/** Whether `name` is a backend this registry knows. */
export function isBackendName(name: unknown): name is BackendName {
  return typeof name === "string" && (backendNames as readonly string[]).includes(name);
}

/** Options that apply to every backend. */
export interface OpenOptions {
  /** Where adapters write one-time notices. Default silent. */
  readonly logger?: Logger;
}

/** Opens the store `config` describes. Throws INVALID_ARGUMENT naming the field when it cannot. */
export async function openStore(config: BackendConfig, options: OpenOptions = {}): Promise<LockStore> {
  switch (config.backend) {
    case "redis": {
      const { RedisLockStore } = await import("@tenure/redis");
      return new RedisLockStore({
        url: config.url,
        ...optional("username", config.username),
        ...optional("password", config.password),
        ...optional("tls", pemOptions(config.tls)),
        ...optional("keyPrefix", config.keyPrefix),
        ...optional("requestTimeoutMs", config.requestTimeoutMs),
      });
    }
    case "etcd": {
      const { EtcdLockStore } = await import("@tenure/etcd");
      const { tls } = config;
      if (tls !== undefined && tls.ca === undefined && (tls.cert !== undefined || tls.key !== undefined)) {
        throw new InvalidArgumentError(
          "tls.ca",
          "is required with a client certificate (etcd's TLS needs the CA)",
          {
            backend: "etcd",
          },
        );
      }
      return new EtcdLockStore({
        hosts: config.hosts,
        ...(config.username === undefined
          ? {}
          : { auth: { username: config.username, password: config.password ?? "" } }),
        ...(tls?.ca === undefined
          ? {}
          : {
              credentials: {
                rootCertificate: tls.ca,
                ...optional("privateKey", tls.key),
                ...optional("certChain", tls.cert),
              },
            }),
        ...optional("keyPrefix", config.keyPrefix),
        ...optional("requestTimeoutMs", config.requestTimeoutMs),
      });
    }
    case "consul": {
      const { ConsulLockStore } = await import("@tenure/consul");
      return new ConsulLockStore({
        address: config.address,
        ...optional("token", config.token),
        ...optional("datacenter", config.datacenter),
        ...optional("tls", pemOptions(config.tls)),
        ...optional("keyPrefix", config.keyPrefix),
        ...optional("requestTimeoutMs", config.requestTimeoutMs),
      });
    }
    case "kubernetes":
      return openKubernetes(config, options);
    case "memory": {
      const { createMemoryStore } = await import("@tenure/memory");
      return createMemoryStore();
    }
    default: {
      const unknown: { backend?: unknown } = config;
      throw new InvalidArgumentError(
        "backend",
        `must be one of ${backendNames.join(", ")}, got ${JSON.stringify(unknown.backend)}`,
      );
    }
  }
}

async function openKubernetes(config: KubernetesBackend, options: OpenOptions): Promise<LockStore> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const { AnnotationLock, defaultKubeConfig, LeaseLock, MigrationLock } = await import("@tenure/kubernetes");
  let kubeConfig: InstanceType<typeof KubeConfig>;
  if (config.kubeconfig === undefined) {
    kubeConfig = defaultKubeConfig("kubernetes");
  } else {
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(config.kubeconfig);
  }
  if (config.server !== undefined) {
    const current = kubeConfig.getCurrentCluster();
    if (current === null) {
      throw new InvalidArgumentError("kubeconfig", `${config.kubeconfig} names no current cluster`);
    }
    kubeConfig.clusters = kubeConfig.clusters.map((cluster) =>
      cluster.name === current.name ? { ...cluster, server: config.server ?? cluster.server } : cluster,
    );
  }
  const common = {
    kubeConfig,
    ...optional("namespace", config.namespace),
    ...optional("requestTimeoutMs", config.requestTimeoutMs),
    ...optional("logger", options.logger),
  };
  switch (config.lock ?? "lease") {
    case "lease":
      return new LeaseLock(common);
    case "endpoints":
      return new AnnotationLock({ ...common, objectKind: "Endpoints" });
    case "configmap":
      return new AnnotationLock({ ...common, objectKind: "ConfigMap" });
    case "migrate":
      // Holds the 2016 Endpoints annotation and the Lease at once, so a fleet still on the old
      // sidecar and a fleet on Leases never both lead during a rolling update.
      return new MigrationLock({ ...common, primaryKind: "Endpoints" });
    default:
      throw new InvalidArgumentError("lock", `must be "lease", "endpoints" or "configmap"`);
  }
}

/** Node `tls.connect` options from PEM material, or undefined without any. */
function pemOptions(tls: TlsPem | undefined): { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined {
  if (tls === undefined || (tls.ca === undefined && tls.cert === undefined && tls.key === undefined))
    return undefined;
  return { ...optional("ca", tls.ca), ...optional("cert", tls.cert), ...optional("key", tls.key) };
}

/** `{ [key]: value }` when value is defined, else `{}` (options are exact: no `undefined` members). */
function optional<Key extends string, Value>(key: Key, value: Value | undefined): { [K in Key]?: Value } {
  return (value === undefined ? {} : { [key]: value }) as { [K in Key]?: Value };
}
