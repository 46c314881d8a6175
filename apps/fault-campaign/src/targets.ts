/**
 * The store side of a campaign, per backend: real servers started by the harness in the campaign's
 * own state folder (it pauses, restarts and wipes them), how a candidate reaches them, and what an
 * operator does to them. etcd and Consul run as three-member clusters, so the leader member can
 * fail over; Redis and kube-apiserver run as one server.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { BackendConfig } from "@tenure/backends";
import type { ElectionTiming } from "@tenure/core";
import {
  type Cluster,
  pauseServer,
  restartServer,
  resumeServer,
  startConsulCluster,
  startEtcdCluster,
  startServers,
  stopClusters,
  stopServers,
} from "@tenure/testing";
import etcd3 from "etcd3";
import { Redis } from "ioredis";

export type CampaignBackend = "redis" | "etcd" | "consul" | "kubernetes";
export const campaignBackends: readonly CampaignBackend[] = ["redis", "etcd", "consul", "kubernetes"];

/** Timings per backend: short, so many faults fit in a run; whole seconds where the store needs them. */
export function campaignTiming(backend: CampaignBackend): ElectionTiming {
  return backend === "kubernetes"
    ? { leaseDurationMs: 2000, renewDeadlineMs: 1400, retryPeriodMs: 300 }
    : { leaseDurationMs: 1000, renewDeadlineMs: 700, retryPeriodMs: 150 };
}

export interface CampaignTarget {
  readonly backend: CampaignBackend;
  /** For the report: `Redis 7.0.15`, `etcd 3.6.8 (3 members)`. */
  readonly label: string;
  readonly timing: ElectionTiming;
  /** The Toxiproxy API the candidates' links go through. */
  readonly toxiproxyUrl: string;
  /** The `host:port` endpoints candidate `index` connects to (each gets its own proxy). */
  upstreamsFor(index: number): readonly string[];
  /** The candidate's store config, given its proxies' `host:port`, in the order of `upstreamsFor`. */
  candidateBackend(proxied: readonly string[]): BackendConfig;
  /** Deletes the election's lock with the store's own client, as an operator would. */
  deleteLock(election: string): Promise<void>;
  /** SIGSTOP every store process. */
  pauseStore(): Promise<void>;
  /** SIGCONT, then wait until the store answers. */
  resumeStore(): Promise<void>;
  /** Stops and starts the store with its data (durable settings), waiting until it answers. */
  restartStore(): Promise<void>;
  /** Restarts the store having lost every key, as a Redis without persistence does. Redis only. */
  wipeAndRestartStore?(): Promise<void>;
  /** Clusters: the leader member now; kill and restart a member. */
  readonly cluster?: {
    leader(): Promise<string>;
    kill(member: string): Promise<void>;
    restart(member: string): Promise<void>;
  };
  /** Stops everything this target started. */
  close(): Promise<void>;
}

/** Starts the servers for `backend` (and Toxiproxy) in `stateDir`. */
export async function startTarget(
  backend: CampaignBackend,
  stateDir: string,
  log: (message: string) => void,
): Promise<CampaignTarget> {
  switch (backend) {
    case "redis":
      return startRedis(stateDir, log);
    case "etcd":
    case "consul":
      return startCluster(backend, stateDir, log);
    case "kubernetes":
      return startKubernetes(stateDir, log);
  }
}

function hostPort(url: string): string {
  const parsed = new URL(url.includes("://") ? url : `http://${url}`);
  return `${parsed.hostname}:${parsed.port}`;
}

async function startRedis(stateDir: string, log: (message: string) => void): Promise<CampaignTarget> {
  const started = await startServers(["redis", "toxiproxy"], { stateDir, durable: true, fresh: true, log });
  const redis = started.servers.redis;
  const toxiproxy = started.servers.toxiproxy;
  if (redis === undefined || toxiproxy === undefined)
    throw new Error("the harness started no redis or toxiproxy");
  const admin = (): Redis => new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const withAdmin = async <T>(run: (client: Redis) => Promise<T>): Promise<T> => {
    const client = admin();
    try {
      await client.connect();
      return await run(client);
    } finally {
      client.disconnect();
    }
  };
  return {
    backend: "redis",
    label: `Redis ${redis.version} (appendonly, appendfsync always)`,
    timing: campaignTiming("redis"),
    toxiproxyUrl: toxiproxy.url,
    upstreamsFor: () => [hostPort(redis.url)],
    candidateBackend: ([proxied]) => ({ backend: "redis", url: `redis://${proxied}`, requestTimeoutMs: 500 }),
    deleteLock: async (election) => {
      await withAdmin((client) => client.del(`tenure:{${election}}:lock`));
    },
    pauseStore: async () => {
      await pauseServer("redis", { stateDir });
    },
    resumeStore: async () => {
      await resumeServer("redis", { stateDir });
    },
    restartStore: async () => {
      await restartServer("redis", { stateDir });
    },
    // What a restart of a Redis without persistence does: every key is gone, the counter too.
    wipeAndRestartStore: async () => {
      await withAdmin((client) => client.flushall("SYNC"));
      await restartServer("redis", { stateDir });
    },
    close: async () => {
      await stopServers({ stateDir });
    },
  };
}

async function startCluster(
  backend: "etcd" | "consul",
  stateDir: string,
  log: (message: string) => void,
): Promise<CampaignTarget> {
  await stopClusters({ stateDir });
  const started = await startServers(["toxiproxy"], { stateDir, fresh: true, log });
  const toxiproxy = started.servers.toxiproxy;
  if (toxiproxy === undefined) throw new Error("the harness started no toxiproxy");
  const cluster: Cluster =
    backend === "etcd"
      ? await startEtcdCluster({ stateDir, durable: true, log })
      : await startConsulCluster({ stateDir, log });
  const upstreams = cluster.endpoints.map(hostPort);
  const names = cluster.members.map((member) => member.name);
  const etcdPrefix = "tenure/elections/";
  return {
    backend,
    label: `${backend === "etcd" ? "etcd" : "Consul"} ${cluster.version} (${names.length}-member cluster)`,
    timing: campaignTiming(backend),
    toxiproxyUrl: toxiproxy.url,
    // etcd clients know every member; a Consul client talks to one agent, its own.
    upstreamsFor: (index) => (backend === "etcd" ? upstreams : [upstreams[index % upstreams.length] ?? ""]),
    candidateBackend: (proxied) =>
      backend === "etcd"
        ? { backend: "etcd", hosts: proxied.map((address) => `http://${address}`), requestTimeoutMs: 500 }
        : { backend: "consul", address: proxied[0] ?? "", requestTimeoutMs: 500 },
    deleteLock: async (election) => {
      if (backend === "etcd") {
        const client = new etcd3.Etcd3({ hosts: [...cluster.endpoints] });
        try {
          await client.delete().key(`${etcdPrefix}${election}`);
        } finally {
          client.close();
        }
        return;
      }
      const leader = cluster.member(await cluster.leader());
      const response = await fetch(`${leader.url}/v1/kv/tenure/elections/${election}`, { method: "DELETE" });
      if (!response.ok) throw new Error(`consul kv delete: ${response.status} ${await response.text()}`);
    },
    pauseStore: async () => {
      for (const name of names) await cluster.pause(name);
    },
    resumeStore: async () => {
      for (const name of names) await cluster.resume(name, { waitForCluster: false });
      await cluster.leader();
    },
    restartStore: async () => {
      for (const name of names) await cluster.kill(name);
      // A majority must be back before any member can rejoin: start them all, then wait for a leader.
      for (const name of names) await cluster.restart(name, { waitForCluster: false });
      await cluster.leader({ timeoutMs: 60_000 });
    },
    cluster: {
      leader: () => cluster.leader(),
      kill: (member) => cluster.kill(member),
      restart: async (member) => {
        await cluster.restart(member);
      },
    },
    close: async () => {
      await cluster.stop();
      await stopServers({ stateDir });
    },
  };
}

async function startKubernetes(stateDir: string, log: (message: string) => void): Promise<CampaignTarget> {
  const started = await startServers(["kubernetes", "toxiproxy"], { stateDir, fresh: true, log });
  const kubernetes = started.servers.kubernetes;
  const toxiproxy = started.servers.toxiproxy;
  if (kubernetes === undefined || toxiproxy === undefined) {
    throw new Error("the harness started no kube-apiserver or toxiproxy");
  }
  const server = kubernetes.server;
  const kubectl = kubernetes.kubectl;
  if (server === null || kubectl === null)
    throw new Error("the harness's kube-apiserver has no address or kubectl");
  return {
    backend: "kubernetes",
    label: `kube-apiserver ${kubernetes.version} (Lease lock)`,
    timing: campaignTiming("kubernetes"),
    toxiproxyUrl: toxiproxy.url,
    upstreamsFor: () => [hostPort(server)],
    candidateBackend: ([proxied]) => ({
      backend: "kubernetes",
      kubeconfig: kubernetes.kubeconfig,
      server: `https://${proxied}`,
      namespace: "default",
      requestTimeoutMs: 1000,
    }),
    deleteLock: async (election) => {
      await promisify(execFile)(kubectl, [
        `--kubeconfig=${kubernetes.kubeconfig}`,
        "delete",
        "lease",
        election,
        "--namespace=default",
        "--wait=false",
      ]);
    },
    pauseStore: async () => {
      await pauseServer("kubernetes", { stateDir });
    },
    resumeStore: async () => {
      await resumeServer("kubernetes", { stateDir });
    },
    restartStore: async () => {
      await restartServer("kubernetes", { stateDir });
    },
    close: async () => {
      await stopServers({ stateDir });
    },
  };
}
