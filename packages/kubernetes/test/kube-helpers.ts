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
import type { RawLock } from "@tenure/conformance";
import { type LeaderRecord, type LogFields, type Logger, TenureError } from "@tenure/core";
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

/** A record to write, with the fields a test cares about set. */
export function testRecord(overrides: Partial<LeaderRecord> = {}): LeaderRecord {
  return {
    holderIdentity: "candidate",
    leaseDurationSeconds: 15,
    acquireTime: "2026-01-02T03:04:05Z",
    renewTime: "2026-01-02T03:04:05Z",
    leaderTransitions: 0,
    ...overrides,
  };
}

/** The TenureError a promise rejects with (fails the test if it resolves or throws something else). */
export async function failure(promise: Promise<unknown>): Promise<TenureError> {
  try {
    await promise;
  } catch (error) {
    if (TenureError.is(error)) return error;
    throw error;
  }
  throw new Error("the call succeeded");
}

/** A logger that keeps what it is told. */
export function recordingLogger(): Logger & {
  warnings: { message: string; fields: LogFields | undefined }[];
} {
  const warnings: { message: string; fields: LogFields | undefined }[] = [];
  return {
    warnings,
    debug() {},
    info() {},
    warn(message, fields) {
      warnings.push({ message, fields });
    },
    error() {},
  };
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
