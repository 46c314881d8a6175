/**
 * One small plug-in per backend: where its server is, how candidates reach it, where its
 * operation counts come from. `prepare` probes the adapter with a real call, so a backend whose
 * adapter is missing, unbuilt or broken is skipped with the reason instead of failing the run.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { openStore } from "@tenure/backends";
import { type CandidatePool, ClientGoPool, MemoryPool, TenurePool } from "./pool.js";
import {
  apiserverStats,
  consulStats,
  etcdStats,
  readKubeconfig,
  redisStats,
  type StatsSource,
} from "./server-stats.js";
import type { BackendName, StoreConfig, Timing } from "./types.js";

/** The parts of the harness's servers.json the bench reads. */
export interface ServersInfo {
  readonly servers: {
    readonly kubernetes?: { readonly kubeconfig: string; readonly version: string };
    readonly etcd?: { readonly endpoints: readonly string[]; readonly version: string };
    readonly consul?: { readonly address: string; readonly url: string; readonly version: string };
    readonly redis?: { readonly url: string; readonly version: string };
  };
}

export type ServerName = "kubernetes" | "etcd" | "consul" | "redis";

export interface PreparedBackend {
  readonly name: BackendName;
  /** e.g. "Redis 7.0.15, RedisLockStore". */
  readonly label: string;
  readonly store: StoreConfig;
  readonly watch: boolean;
  /** Candidates run as separate processes (not for memory). */
  readonly processes: boolean;
  /** The smallest lease step the store takes (Kubernetes: whole seconds). */
  readonly leaseGranularityMs: number;
  makePool(election: string, timing: Timing): CandidatePool;
  readonly stats: StatsSource | undefined;
  /** Elections in the default scale run (0: no scale run by default). */
  readonly scaleElections: number;
}

export interface Backend {
  readonly name: BackendName;
  readonly server: ServerName | null;
  prepare(servers: ServersInfo): Promise<PreparedBackend>;
}

/** Opens the adapter and reads a lock once, so a broken adapter shows now, with its reason. */
async function probe(config: StoreConfig): Promise<{ watch: boolean; leaseGranularityMs: number }> {
  const store = await openStore(config);
  try {
    await store.get("failover-bench-probe", { signal: AbortSignal.timeout(10_000) });
    return { watch: store.capabilities.watch, leaseGranularityMs: store.capabilities.leaseGranularityMs };
  } finally {
    await store.close().catch(() => {});
  }
}

function loopback(url: string): string {
  const host = new URL(url.includes("://") ? url : `http://${url}`).hostname;
  if (!["127.0.0.1", "localhost", "::1", "[::1]"].includes(host))
    throw new Error(`${url} is not a loopback address; the bench only talks to loopback`);
  return url;
}

function processBackend(
  name: BackendName,
  server: ServerName,
  describe: (servers: ServersInfo) => {
    label: string;
    store: StoreConfig;
    stats: StatsSource;
    scale: number;
  },
): Backend {
  return {
    name,
    server,
    async prepare(servers) {
      const described = describe(servers);
      const capabilities = await probe(described.store);
      return {
        name,
        label: described.label,
        store: described.store,
        watch: capabilities.watch,
        processes: true,
        leaseGranularityMs: capabilities.leaseGranularityMs,
        makePool: (election, timing) => new TenurePool(described.store, election, timing),
        stats: described.stats,
        scaleElections: described.scale,
      };
    },
  };
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the harness did not start ${what}`);
  return value;
}

export const backends: Readonly<Record<BackendName, Backend>> = {
  memory: {
    name: "memory",
    server: null,
    async prepare() {
      const capabilities = await probe({ backend: "memory" });
      return {
        name: "memory",
        label: "MemoryStore (in-process; candidates share one process)",
        store: { backend: "memory" },
        watch: capabilities.watch,
        processes: false,
        leaseGranularityMs: capabilities.leaseGranularityMs,
        makePool: (election, timing) => new MemoryPool(election, timing),
        stats: undefined,
        scaleElections: 0,
      };
    },
  },
  redis: processBackend("redis", "redis", (servers) => {
    const redis = need(servers.servers.redis, "redis");
    return {
      label: `Redis ${redis.version}, RedisLockStore`,
      store: { backend: "redis", url: loopback(redis.url), keyPrefix: "failover-bench" },
      stats: redisStats(redis.url),
      scale: 1000,
    };
  }),
  etcd: processBackend("etcd", "etcd", (servers) => {
    const etcd = need(servers.servers.etcd, "etcd");
    const endpoint = need(etcd.endpoints[0], "an etcd endpoint");
    return {
      label: `etcd ${etcd.version}, EtcdLockStore`,
      store: { backend: "etcd", hosts: etcd.endpoints.map(loopback), keyPrefix: "failover-bench/" },
      stats: etcdStats(endpoint),
      scale: 1000,
    };
  }),
  consul: processBackend("consul", "consul", (servers) => {
    const consul = need(servers.servers.consul, "consul");
    return {
      label: `Consul ${consul.version}, ConsulLockStore`,
      store: { backend: "consul", address: loopback(consul.address), keyPrefix: "failover-bench/" },
      stats: consulStats(consul.url),
      scale: 100,
    };
  }),
  kubernetes: processBackend("kubernetes", "kubernetes", (servers) => {
    const kubernetes = need(servers.servers.kubernetes, "kubernetes");
    loopback(readKubeconfig(kubernetes.kubeconfig).server);
    return {
      label: `kube-apiserver ${kubernetes.version}, LeaseLock`,
      store: { backend: "kubernetes", kubeconfig: kubernetes.kubeconfig, namespace: "default" },
      stats: apiserverStats(kubernetes.kubeconfig),
      scale: 100,
    };
  }),
};

/** The repository root (apps/failover-bench/dist → ../../..). */
export const repoRoot = resolve(fileURLToPath(new URL("../../..", import.meta.url)));

/**
 * The client-go interop peer (packages/kubernetes/interop/client-go-elector): built by the
 * Kubernetes package's helper when it loads, else with `go build` into the temporary folder.
 */
export async function buildClientGo(log: (message: string) => void): Promise<string> {
  // Prefer the Kubernetes package's own build helper (cached by source hash beside the servers).
  const helper = join(repoRoot, "packages/kubernetes/test/support/client-go-elector.ts");
  if (existsSync(helper)) {
    try {
      const module = (await import(pathToFileURL(helper).href)) as {
        ensureClientGoElector?: (onBuild?: (message: string) => void) => Promise<{ path: string }>;
      };
      if (typeof module.ensureClientGoElector === "function")
        return (await module.ensureClientGoElector(log)).path;
    } catch (error) {
      log(
        `the build helper failed (${error instanceof Error ? error.message.split("\n")[0] : String(error)}); building directly`,
      );
    }
  }
  const source = join(repoRoot, "packages/kubernetes/interop/client-go-elector");
  if (!existsSync(join(source, "main.go"))) throw new Error(`${source}/main.go does not exist`);
  const outDir = join(tmpdir(), "failover-bench");
  mkdirSync(outDir, { recursive: true });
  const output = join(outDir, "client-go-elector");
  log("building the client-go peer (go build)");
  try {
    await promisify(execFile)("go", ["build", "-o", output, "."], {
      cwd: source,
      timeout: 15 * 60_000,
      env: { ...process.env, CGO_ENABLED: "0" },
      maxBuffer: 16 * 2 ** 20,
    });
  } catch (error) {
    throw new Error(
      `go build of the client-go peer failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return output;
}

export function clientGoPool(
  binary: string,
  servers: ServersInfo,
  election: string,
  timing: Timing,
): CandidatePool {
  const kubernetes = need(servers.servers.kubernetes, "kubernetes");
  return new ClientGoPool(binary, kubernetes.kubeconfig, "default", election, timing);
}
