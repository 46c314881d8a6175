import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { StateLayout } from "./paths.ts";
import type { ReadinessProbe } from "./readiness.ts";

/** The servers the harness knows, in the order `up` starts them. */
export const serverNames = ["kubernetes", "etcd", "consul", "redis", "toxiproxy"] as const;

/** One of {@link serverNames}. */
export type ServerName = (typeof serverNames)[number];

/** Whether `name` is a server the harness knows. */
export function isServerName(name: string): name is ServerName {
  return (serverNames as readonly string[]).includes(name);
}

/** A process the harness started, with what it takes to start it again the same way. */
export interface ManagedProcess {
  /** What the process is, e.g. "kube-apiserver" or "etcd (kube-apiserver storage)". */
  readonly label: string;
  /** Absolute path of the executable (also how a pid is recognised as ours). */
  readonly binary: string;
  readonly args: readonly string[];
  readonly logFile: string;
  readonly probe: ReadinessProbe;
  readonly readyTimeoutMs: number;
  readonly pid: number;
}

/** Fields every server record has. */
export interface ServerRecordBase {
  readonly name: ServerName;
  /** Version of the server, or "external" for one given by an environment variable. */
  readonly version: string;
  /** True when the server was given by an environment variable: never started or stopped here. */
  readonly external: boolean;
  /** pid of the server's main process (null when external). */
  readonly pid: number | null;
  /** Data folder removed by `down` (null when external or when the server keeps data in memory). */
  readonly dataDir: string | null;
  /** Processes in start order (empty when external). */
  readonly processes: readonly ManagedProcess[];
}

/** Credentials of one extra kube-apiserver user (from --token-auth-file), for RBAC tests. */
export interface KubernetesTokenUser {
  readonly token: string;
  /** A kubeconfig that authenticates as this user. */
  readonly kubeconfig: string;
}

/** A kube-apiserver. */
export interface KubernetesServer extends ServerRecordBase {
  readonly name: "kubernetes";
  /** Kubeconfig of an admin (client certificate in group system:masters). */
  readonly kubeconfig: string;
  /** https URL of the apiserver (null when external: read it from the kubeconfig). */
  readonly server: string | null;
  /** Path of a kubectl matching the server (null when external and TENURE_KUBECTL is unset). */
  readonly kubectl: string | null;
  /** Token users with no permissions granted yet, by user name ("tenure-elector", "tenure-readonly"). */
  readonly users: Readonly<Record<string, KubernetesTokenUser>>;
}

/** An etcd served to the etcd adapter. */
export interface EtcdServer extends ServerRecordBase {
  readonly name: "etcd";
  /** Client URLs, e.g. ["http://127.0.0.1:23790"]. */
  readonly endpoints: readonly string[];
}

/** A Consul dev agent (a single server). */
export interface ConsulServer extends ServerRecordBase {
  readonly name: "consul";
  /** host:port of the HTTP API, the form Consul's own CONSUL_HTTP_ADDR takes. */
  readonly address: string;
  /** http URL of the HTTP API. */
  readonly url: string;
}

/** A Redis server. */
export interface RedisServer extends ServerRecordBase {
  readonly name: "redis";
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  /** appendonly yes + appendfsync always: every acknowledged write survives a restart. */
  readonly durable: boolean;
}

/** A Toxiproxy server (fault injection). */
export interface ToxiproxyServer extends ServerRecordBase {
  readonly name: "toxiproxy";
  /** host:port of the Toxiproxy API. */
  readonly address: string;
  /** http URL of the Toxiproxy API. */
  readonly url: string;
}

/** The record of each kind of server. */
export interface ServerRecords {
  kubernetes: KubernetesServer;
  etcd: EtcdServer;
  consul: ConsulServer;
  redis: RedisServer;
  toxiproxy: ToxiproxyServer;
}

/** Any server record. */
export type ServerRecord = ServerRecords[ServerName];

/** Content of `servers.json`: what runs, where, and how to reach it. */
export interface ServersFile {
  readonly schema: 1;
  /** Folder holding this file, the data folders and the logs. */
  readonly stateDir: string;
  readonly updatedAt: string;
  readonly servers: Partial<ServerRecords>;
}

/** An empty servers file for `layout`. */
export function emptyServersFile(layout: StateLayout): ServersFile {
  return { schema: 1, stateDir: layout.stateDir, updatedAt: new Date().toISOString(), servers: {} };
}

/** Reads `servers.json` of `layout`, or undefined when there is none. */
export function loadServersFile(layout: StateLayout): ServersFile | undefined {
  if (!existsSync(layout.serversFile)) return undefined;
  const parsed: unknown = JSON.parse(readFileSync(layout.serversFile, "utf8"));
  if (typeof parsed !== "object" || parsed === null || (parsed as { schema?: unknown }).schema !== 1) {
    throw new Error(
      `${layout.serversFile} is not a servers file this version of @tenure/testing understands`,
    );
  }
  return parsed as ServersFile;
}

/** Writes `servers.json` atomically, or removes it when no server is left. */
export function saveServersFile(layout: StateLayout, file: ServersFile): void {
  if (Object.keys(file.servers).length === 0) {
    rmSync(layout.serversFile, { force: true });
    return;
  }
  mkdirSync(dirname(layout.serversFile), { recursive: true });
  const temporary = `${layout.serversFile}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify({ ...file, updatedAt: new Date().toISOString() }, null, 2)}\n`);
  renameSync(temporary, layout.serversFile);
}
