import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { stopClusters } from "./clusters.ts";
import { messageOf } from "./errors.ts";
import { externalServer } from "./external.ts";
import { launchInOrder, type StartContext, stopProcesses } from "./launch.ts";
import { removeDataDir, stateLayout } from "./paths.ts";
import { isPaused, isRunning, pauseProcess, resumeProcess } from "./process.ts";
import { waitUntilReady } from "./readiness.ts";
import { installConsul, startConsul } from "./servers/consul.ts";
import { installEtcd, startEtcd } from "./servers/etcd.ts";
import { installKubernetes, startKubernetes } from "./servers/kubernetes.ts";
import { installRedis, startRedis } from "./servers/redis.ts";
import { installToxiproxy, startToxiproxy } from "./servers/toxiproxy.ts";
import {
  emptyServersFile,
  loadServersFile,
  type ServerName,
  type ServerRecord,
  type ServersFile,
  saveServersFile,
  serverNames,
} from "./state.ts";

/** Options for {@link startServers}. */
export interface StartServersOptions {
  /** Folder for servers.json, data and logs. Default: `<repo>/.tenure`. */
  readonly stateDir?: string;
  /** Redis with appendonly yes + appendfsync always, etcd with fsync: writes survive a restart. */
  readonly durable?: boolean;
  /**
   * kube-apiserver with Coordinated Leader Election (KEP-4355): the `CoordinatedLeaderElection`
   * feature gate and the `coordination.k8s.io/v1beta1` API (LeaseCandidate), both off by default.
   */
  readonly coordinatedLeaderElection?: boolean;
  /** Stop whatever this state folder already runs before starting (tests want a clean slate). */
  readonly fresh?: boolean;
  /** Progress messages (builds, installs, starts). Default: none. */
  readonly log?: (message: string) => void;
  /** Environment read for the TENURE_* overrides. Default: process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Installs (builds) one server's binaries; resolves with a function that starts it. */
async function install(name: ServerName, context: StartContext): Promise<() => Promise<ServerRecord>> {
  switch (name) {
    case "kubernetes": {
      const binaries = await installKubernetes(context);
      return () => startKubernetes(context, binaries);
    }
    case "etcd": {
      const binary = await installEtcd(context);
      return () => startEtcd(context, binary);
    }
    case "consul": {
      const binary = await installConsul(context);
      return () => startConsul(context, binary);
    }
    case "redis": {
      const binary = await installRedis(context);
      return () => startRedis(context, binary);
    }
    case "toxiproxy": {
      const binary = await installToxiproxy(context);
      return () => startToxiproxy(context, binary);
    }
  }
}

/** Whether every process of a started server still runs. */
function isAlive(record: ServerRecord): boolean {
  return record.processes.every((managed) => isRunning(managed.pid, managed.binary));
}

function withServer(file: ServersFile, record: ServerRecord): ServersFile {
  return { ...file, servers: { ...file.servers, [record.name]: record } };
}

function withoutServer(file: ServersFile, name: ServerName): ServersFile {
  const servers = { ...file.servers };
  delete servers[name];
  return { ...file, servers };
}

/**
 * Makes the named servers (all when `names` is empty) available and writes their endpoints to
 * `<stateDir>/servers.json`. A server given by a TENURE_* environment variable is used as is;
 * one this state folder already runs is kept; any other is installed or built when missing, then
 * started on free loopback ports with a fresh data folder, and waited for until ready. Builds run
 * one after another (they use every core); starts run in parallel. If any server fails, the ones
 * started by this call are stopped and the error (naming the step and the log file) is thrown.
 */
export async function startServers(
  names: readonly ServerName[] = [],
  options: StartServersOptions = {},
): Promise<ServersFile> {
  const layout = stateLayout(options.stateDir);
  const log = options.log ?? (() => {});
  const env = options.env ?? process.env;
  mkdirSync(layout.logDir, { recursive: true });
  if (options.fresh === true) await stopServers({ stateDir: layout.stateDir });
  let file = loadServersFile(layout) ?? emptyServersFile(layout);
  const wanted = serverNames.filter((name) => names.length === 0 || names.includes(name));
  const context: StartContext = {
    layout,
    durable: options.durable === true,
    coordinatedLeaderElection: options.coordinatedLeaderElection === true,
    log,
  };

  const toStart: ServerName[] = [];
  for (const name of wanted) {
    const external = externalServer(name, env);
    const existing = file.servers[name];
    if (external !== undefined) {
      log(`${name}: using the server given by the environment (not started here)`);
      file = withServer(file, external);
    } else if (existing !== undefined && !existing.external && isAlive(existing)) {
      log(`${name}: already running (pid ${existing.pid})`);
    } else {
      if (existing !== undefined && !existing.external) {
        await stopProcesses(existing.processes);
        removeDataDir(layout, existing.dataDir);
        file = withoutServer(file, name);
      }
      toStart.push(name);
    }
  }
  saveServersFile(layout, file);

  const starters: Array<[ServerName, () => Promise<ServerRecord>]> = [];
  for (const name of toStart) starters.push([name, await install(name, context)]);

  const results = await Promise.allSettled(
    starters.map(async ([name, start]) => {
      rmSync(join(layout.dataDir, name), { recursive: true, force: true });
      log(`${name}: starting`);
      const record = await start();
      log(`${name}: ready (pid ${record.pid})`);
      // Recorded at once, so `down` can stop it even if this process is interrupted later.
      file = withServer(file, record);
      saveServersFile(layout, file);
      return record;
    }),
  );
  const started = results.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const failures = results.flatMap((result) => (result.status === "rejected" ? [result.reason] : []));
  if (failures.length > 0) {
    for (const record of started) {
      await stopProcesses(record.processes);
      removeDataDir(layout, record.dataDir);
      file = withoutServer(file, record.name);
    }
    saveServersFile(layout, file);
    if (failures.length === 1) throw failures[0];
    throw new Error(failures.map(messageOf).join("\n"), { cause: failures[0] });
  }
  return file;
}

/** Options for {@link stopServers}. */
export interface StopServersOptions {
  readonly stateDir?: string;
  /** Only these servers (default: every server the state folder lists, and every cluster it records). */
  readonly names?: readonly ServerName[];
}

/**
 * Stops exactly the processes listed in `<stateDir>/servers.json` (checking each pid still runs
 * the binary we started) and removes their data folders; servers given by environment variables
 * are only forgotten. Without `names`, also stops the clusters recorded under `<stateDir>/clusters/`
 * (see `startEtcdCluster`). Resolves with the names of the servers stopped. Throws if a process
 * would not die, naming it.
 */
export async function stopServers(options: StopServersOptions = {}): Promise<ServerName[]> {
  const layout = stateLayout(options.stateDir);
  if (options.names === undefined) await stopClusters({ stateDir: layout.stateDir });
  let file = loadServersFile(layout);
  if (file === undefined) return [];
  const stopped: ServerName[] = [];
  const stuck: string[] = [];
  for (const name of [...serverNames].reverse()) {
    const record = file.servers[name];
    if (record === undefined || (options.names !== undefined && !options.names.includes(name))) continue;
    if (!record.external) {
      stuck.push(...(await stopProcesses(record.processes)));
      removeDataDir(layout, record.dataDir);
    }
    file = withoutServer(file, name);
    stopped.push(name);
  }
  saveServersFile(layout, file);
  try {
    if (readdirSync(layout.dataDir).length === 0) rmSync(layout.dataDir, { recursive: true });
  } catch {
    // no data folder
  }
  if (stuck.length > 0) throw new Error(`could not stop: ${stuck.join(", ")}`);
  return stopped;
}

/**
 * Stops and starts again one server this state folder runs, with the same ports, arguments and
 * data folder (a durable Redis keeps its keys; a non-durable one loses them). Resolves with the
 * updated record, also written to servers.json.
 */
export async function restartServer(
  name: ServerName,
  options: { readonly stateDir?: string } = {},
): Promise<ServerRecord> {
  const layout = stateLayout(options.stateDir);
  const record = managedRecord(name, layout.stateDir, "restart");
  await stopProcesses(record.processes);
  const processes = await launchInOrder(
    name,
    record.processes.map(({ pid: _pid, ...spec }) => spec),
  );
  const restarted = { ...record, processes, pid: processes.at(-1)?.pid ?? null } as ServerRecord;
  saveServersFile(layout, withServer(readServersFile(layout.stateDir), restarted));
  return restarted;
}

/** The record of a server this state folder started; throws for a missing or external one. */
function managedRecord(name: ServerName, stateDir: string, action: string): ServerRecord {
  const record = readServersFile(stateDir).servers[name];
  if (record === undefined) throw new Error(`${name} is not running under ${stateDir}`);
  if (record.external)
    throw new Error(`${name} was given by an environment variable; the harness cannot ${action} it`);
  return record;
}

/**
 * Pauses one server this state folder runs: SIGSTOP to each of its processes (kube-apiserver and
 * its etcd alike), which keep their sockets open and answer nothing, as a hung server would.
 * Resolves with its record once the kernel shows every process stopped. `stopServers` and
 * `restartServer` work on a paused server.
 */
export async function pauseServer(
  name: ServerName,
  options: { readonly stateDir?: string } = {},
): Promise<ServerRecord> {
  const record = managedRecord(name, stateLayout(options.stateDir).stateDir, "pause");
  for (const managed of [...record.processes].reverse())
    await pauseProcess(managed.pid, managed.binary, managed.label);
  return record;
}

/**
 * Resumes a server paused by {@link pauseServer}: SIGCONT to each of its processes, then waits
 * until each passes its readiness check again (the same check as at start). Throws, naming the
 * log, if one does not.
 */
export async function resumeServer(
  name: ServerName,
  options: { readonly stateDir?: string } = {},
): Promise<ServerRecord> {
  const record = managedRecord(name, stateLayout(options.stateDir).stateDir, "resume");
  for (const managed of record.processes) resumeProcess(managed.pid, managed.binary, managed.label);
  for (const managed of record.processes) {
    await waitUntilReady({
      server: name,
      pid: managed.pid,
      binary: managed.binary,
      logFile: managed.logFile,
      probe: managed.probe,
      timeoutMs: managed.readyTimeoutMs,
    });
  }
  return record;
}

/**
 * Reads `<stateDir>/servers.json` (default `<repo>/.tenure/servers.json`). Throws, saying how to
 * start servers, when there is none.
 */
export function readServersFile(stateDir?: string): ServersFile {
  const layout = stateLayout(stateDir);
  const file = loadServersFile(layout);
  if (file === undefined) {
    throw new Error(
      `no servers are running under ${layout.stateDir} (start them with \`npm run servers -- up\`)`,
    );
  }
  return file;
}

/** One process's state, as `status` shows it. */
export interface ProcessStatus {
  readonly label: string;
  readonly pid: number;
  readonly running: boolean;
  /** Stopped by {@link pauseServer} (it still counts as running). */
  readonly paused: boolean;
}

/** One server's state, as `status` shows it. */
export interface ServerStatus {
  readonly name: ServerName;
  readonly version: string;
  readonly external: boolean;
  readonly running: boolean;
  readonly processes: readonly ProcessStatus[];
  readonly record: ServerRecord;
}

/** What the state folder lists and whether each listed process still runs. */
export function serverStatus(stateDir?: string): ServerStatus[] {
  const file = loadServersFile(stateLayout(stateDir));
  if (file === undefined) return [];
  return serverNames.flatMap((name) => {
    const record = file.servers[name];
    if (record === undefined) return [];
    const processes = record.processes.map((managed) => ({
      label: managed.label,
      pid: managed.pid,
      running: isRunning(managed.pid, managed.binary),
      paused: isPaused(managed.pid, managed.binary),
    }));
    return [
      {
        name,
        version: record.version,
        external: record.external,
        running: processes.every((managed) => managed.running),
        processes,
        record,
      },
    ];
  });
}
