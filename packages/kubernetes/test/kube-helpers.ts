import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1Lease,
} from "@kubernetes/client-node";
import { type RawLock, TcpFaultProxy } from "@tenure/conformance";
import type { LockStore } from "@tenure/core";
import type { KubernetesServer } from "@tenure/testing";
import type {} from "@tenure/testing/global-setup";
import { inject } from "vitest";

/** The kube-apiserver the harness started for this project. */
export function kubernetesServer(): KubernetesServer {
  const server = inject("tenureServers").servers.kubernetes;
  if (server === undefined) throw new Error("the global setup provided no kube-apiserver");
  return server;
}

/** A KubeConfig loaded from a kubeconfig file. */
export function loadKubeConfig(path: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(path);
  return config;
}

/** The same credentials, with the cluster's server pointed somewhere else (a fault proxy). */
export function viaServer(base: KubeConfig, server: string): KubeConfig {
  const config = new KubeConfig();
  const current = base.getCurrentCluster();
  if (current === null) throw new Error("the kubeconfig has no current cluster");
  config.loadFromOptions({
    clusters: base
      .getClusters()
      .map((cluster) => (cluster.name === current.name ? { ...cluster, server } : cluster)),
    users: base.getUsers(),
    contexts: base.getContexts(),
    currentContext: base.getCurrentContext(),
  });
  return config;
}

/** Admin clients, used by tests to look at and tamper with objects independently of the adapter. */
export class Admin {
  readonly config: KubeConfig;
  readonly core: CoreV1Api;
  readonly coordination: CoordinationV1Api;
  readonly rbac: RbacAuthorizationV1Api;

  constructor(server: KubernetesServer) {
    this.config = loadKubeConfig(server.kubeconfig);
    this.core = this.config.makeApiClient(CoreV1Api);
    this.coordination = this.config.makeApiClient(CoordinationV1Api);
    this.rbac = this.config.makeApiClient(RbacAuthorizationV1Api);
  }

  /**
   * A namespace of a test's own. Nothing ever deletes it: this apiserver runs no controller-manager,
   * so a deleted namespace would stay Terminating forever; fresh names keep runs apart instead.
   */
  async freshNamespace(label: string): Promise<string> {
    const name = `tenure-${label}-${randomBytes(3).toString("hex")}`;
    await this.core.createNamespace({ body: { metadata: { name } } });
    return name;
  }

  /** Deletes an object as `kubectl delete` does (a DELETE with the admin's credentials); it must exist. */
  async delete(kind: "Lease" | "Endpoints" | "ConfigMap", namespace: string, name: string): Promise<void> {
    if (kind === "Lease") await this.coordination.deleteNamespacedLease({ name, namespace });
    else if (kind === "Endpoints") await this.core.deleteNamespacedEndpoints({ name, namespace });
    else await this.core.deleteNamespacedConfigMap({ name, namespace });
  }

  /** The Lease as stored, or null. */
  async lease(namespace: string, name: string): Promise<V1Lease | null> {
    return orNull(this.coordination.readNamespacedLease({ name, namespace }));
  }

  /** The leader annotation as stored on an Endpoints or ConfigMap object; null when the object is missing. */
  async annotation(kind: "Endpoints" | "ConfigMap", namespace: string, name: string): Promise<string | null> {
    const object =
      kind === "Endpoints"
        ? await orNull(this.core.readNamespacedEndpoints({ name, namespace }))
        : await orNull(this.core.readNamespacedConfigMap({ name, namespace }));
    if (object === null) return null;
    return object.metadata?.annotations?.["control-plane.alpha.kubernetes.io/leader"] ?? "";
  }
}

/** The value of a read, or null on 404. */
export async function orNull<T>(read: Promise<T>): Promise<T | null> {
  try {
    return await read;
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) return null;
    throw error;
  }
}

/**
 * A Lease's spec decoded by hand from client-node's object (independent of the adapter's mapping):
 * the conformance suite's raw reader for the Lease lock.
 */
export function rawLease(lease: V1Lease | null): RawLock | null {
  if (lease === null) return null;
  const spec = lease.spec ?? {};
  const time = (value: unknown): string => {
    if (value === undefined || value === null) return "";
    return value instanceof Date ? value.toISOString() : String(value);
  };
  if (spec.holderIdentity !== undefined && spec.holderIdentity !== "" && !spec.leaseDurationSeconds) {
    return { corruption: "a holder without leaseDurationSeconds" };
  }
  return {
    record: {
      holderIdentity: spec.holderIdentity ?? "",
      leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
      acquireTime: time(spec.acquireTime),
      renewTime: time(spec.renewTime),
      leaderTransitions: spec.leaseTransitions ?? 0,
    },
  };
}

/** The annotation decoded with JSON.parse alone: the raw reader for the annotation locks. */
export function rawAnnotation(value: string | null): RawLock | null {
  if (value === null) return null;
  try {
    const parsed = JSON.parse(value) as Record<string, unknown>;
    if (typeof parsed !== "object" || parsed === null) return { corruption: "not an object" };
    return {
      record: {
        holderIdentity: String(parsed.holderIdentity ?? ""),
        leaseDurationSeconds: Number(parsed.leaseDurationSeconds ?? 0),
        acquireTime: String(parsed.acquireTime ?? ""),
        renewTime: String(parsed.renewTime ?? ""),
        leaderTransitions: Number(parsed.leaderTransitions ?? 0),
      },
    };
  } catch (error) {
    return { corruption: String(error) };
  }
}

/**
 * One TCP fault proxy per store, so the fault hook cuts exactly one candidate off. TLS passes
 * through it: the apiserver's certificate names 127.0.0.1, the proxy's address.
 */
export class ProxiedStores {
  readonly #server: URL;
  readonly #proxies = new Map<LockStore, TcpFaultProxy>();

  constructor(server: KubernetesServer, admin: Admin) {
    const url = server.server ?? admin.config.getCurrentCluster()?.server;
    if (url === undefined) throw new Error("no apiserver URL");
    this.#server = new URL(url);
  }

  /** A store whose KubeConfig reaches the apiserver through a proxy of its own. */
  async create<S extends LockStore>(base: KubeConfig, make: (config: KubeConfig) => S): Promise<S> {
    const proxy = await TcpFaultProxy.start({
      host: this.#server.hostname,
      port: Number(this.#server.port),
    });
    const store = make(viaServer(base, `https://${proxy.address}`));
    this.#proxies.set(store, proxy);
    return store;
  }

  proxyOf(store: LockStore): TcpFaultProxy {
    const proxy = this.#proxies.get(store);
    if (proxy === undefined) throw new Error("this store was not created through a proxy");
    return proxy;
  }

  faults = {
    isolate: async (store: LockStore): Promise<void> => this.proxyOf(store).cut("blackhole"),
    heal: async (store: LockStore): Promise<void> => this.proxyOf(store).restore(),
  };

  async closeAll(): Promise<void> {
    await Promise.all([...this.#proxies.values()].map((proxy) => proxy.close()));
    this.#proxies.clear();
  }
}

/** `kubectl create -f -` with the admin kubeconfig: an object sent exactly as written. */
export async function kubectlCreate(server: KubernetesServer, object: unknown): Promise<void> {
  await kubectl(server, server.kubeconfig, ["create", "-f", "-"], JSON.stringify(object));
}

/** Runs the harness's kubectl with a kubeconfig; resolves with stdout, rejects with stderr. */
export function kubectl(
  server: KubernetesServer,
  kubeconfig: string,
  args: readonly string[],
  input?: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(server.kubectl ?? "kubectl", ["--kubeconfig", kubeconfig, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
      timeout: 30_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`kubectl ${args.join(" ")} exited with ${code}: ${stderr}`));
    });
    child.stdin.end(input ?? "");
  });
}
