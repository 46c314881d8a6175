import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { ensureGoBinary } from "../build.ts";
import { launchInOrder, type ProcessSpec, type StartContext } from "../launch.ts";
import { freePorts, loopback } from "../ports.ts";
import type { ReadinessProbe } from "../readiness.ts";
import type { EtcdServer } from "../state.ts";
import { goBinaries } from "../versions.ts";

/** Builds (or finds in the cache) the etcd binary. */
export function installEtcd(context: StartContext, server = "etcd"): Promise<string> {
  return ensureGoBinary("etcd", { server, logDir: context.layout.logDir, onBuild: context.log });
}

/** What {@link etcdProcessSpec} needs. */
export interface EtcdProcessOptions {
  readonly binary: string;
  readonly label: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** Skip fsync: fast, but a crash loses writes. Never for durability tests. */
  readonly unsafeNoFsync: boolean;
}

/** Where one etcd member listens and which cluster it belongs to. */
export interface EtcdMemberOptions {
  readonly name: string;
  readonly dataDir: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  /** `name=peerUrl` of every member, comma-separated (read only when the data folder is new). */
  readonly initialCluster: string;
  /** Keeps members of different clusters from joining each other by mistake. */
  readonly initialClusterToken?: string;
  /** Skip fsync: fast, but a machine crash loses writes (a killed process does not). */
  readonly unsafeNoFsync: boolean;
}

/**
 * Arguments of one etcd member. The `--initial-*` ones matter only for a new data folder: a
 * member restarted on its old data folder takes its identity and peers from there.
 */
export function etcdMemberArgs(options: EtcdMemberOptions): string[] {
  return [
    `--name=${options.name}`,
    `--data-dir=${options.dataDir}`,
    `--listen-client-urls=${options.clientUrl}`,
    `--advertise-client-urls=${options.clientUrl}`,
    `--listen-peer-urls=${options.peerUrl}`,
    `--initial-advertise-peer-urls=${options.peerUrl}`,
    `--initial-cluster=${options.initialCluster}`,
    "--initial-cluster-state=new",
    ...(options.initialClusterToken === undefined
      ? []
      : [`--initial-cluster-token=${options.initialClusterToken}`]),
    ...(options.unsafeNoFsync ? ["--unsafe-no-fsync"] : []),
  ];
}

/** Ready when `/health` says true: the member serves and its cluster has a leader. */
export function etcdHealthProbe(clientUrl: string): ReadinessProbe {
  return { kind: "http", url: `${clientUrl}/health`, bodyPattern: '"health":\\s*"true"' };
}

/** A single-member etcd on two free loopback ports; resolves with its spec and client URL. */
export async function etcdProcessSpec(
  options: EtcdProcessOptions,
): Promise<{ spec: ProcessSpec; clientUrl: string }> {
  const [clientPort, peerPort] = await freePorts(2);
  const clientUrl = `http://${loopback}:${clientPort}`;
  const peerUrl = `http://${loopback}:${peerPort}`;
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const args = etcdMemberArgs({
    name: "tenure",
    dataDir: options.dataDir,
    clientUrl,
    peerUrl,
    initialCluster: `tenure=${peerUrl}`,
    unsafeNoFsync: options.unsafeNoFsync,
  });
  return {
    clientUrl,
    spec: {
      label: options.label,
      binary: options.binary,
      args,
      logFile: options.logFile,
      probe: etcdHealthProbe(clientUrl),
      readyTimeoutMs: 30_000,
    },
  };
}

/** Starts the etcd served to the etcd adapter (fresh data folder, free loopback ports). */
export async function startEtcd(context: StartContext, binary: string): Promise<EtcdServer> {
  const dataDir = join(context.layout.dataDir, "etcd");
  const { spec, clientUrl } = await etcdProcessSpec({
    binary,
    label: "etcd",
    dataDir,
    logFile: join(context.layout.logDir, "etcd.log"),
    unsafeNoFsync: !context.durable,
  });
  const processes = await launchInOrder("etcd", [spec]);
  return {
    name: "etcd",
    version: goBinaries.etcd.version,
    external: false,
    pid: processes[0]?.pid ?? null,
    dataDir,
    processes,
    endpoints: [clientUrl],
  };
}
