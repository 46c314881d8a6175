import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { ensureGoBinary } from "../build.ts";
import { launchInOrder, type ProcessSpec, type StartContext } from "../launch.ts";
import { freePorts, loopback } from "../ports.ts";
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

/** A single-member etcd on two free loopback ports; resolves with its spec and client URL. */
export async function etcdProcessSpec(
  options: EtcdProcessOptions,
): Promise<{ spec: ProcessSpec; clientUrl: string }> {
  const [clientPort, peerPort] = await freePorts(2);
  const clientUrl = `http://${loopback}:${clientPort}`;
  const peerUrl = `http://${loopback}:${peerPort}`;
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const args = [
    "--name=tenure",
    `--data-dir=${options.dataDir}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=tenure=${peerUrl}`,
    "--initial-cluster-state=new",
    ...(options.unsafeNoFsync ? ["--unsafe-no-fsync"] : []),
  ];
  return {
    clientUrl,
    spec: {
      label: options.label,
      binary: options.binary,
      args,
      logFile: options.logFile,
      probe: { kind: "http", url: `${clientUrl}/health`, bodyPattern: '"health":\\s*"true"' },
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
