import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { messageOf } from "./errors.ts";
import { externalServer } from "./external.ts";
import { launchInOrder, type StartContext, stopProcesses } from "./launch.ts";
import { type StateLayout, stateLayout } from "./paths.ts";
import { isRunning } from "./process.ts";
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

/** Removes a server's data folder, refusing any folder outside the state folder's data/. */
function removeDataDir(layout: StateLayout, dataDir: string | null): void {
  if (dataDir === null) return;
  const inside = relative(layout.dataDir, dataDir);
  if (inside === "" || inside.startsWith(".."))
    throw new Error(`refusing to remove ${dataDir}: not under ${layout.dataDir}`);
  rmSync(dataDir, { recursive: true, force: true });
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
  const context: StartContext = { layout, durable: options.durable === true, log };

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
  /** Only these servers (default: every server the state folder lists). */
  readonly names?: readonly ServerName[];
}

/**
 * Stops exactly the processes listed in `<stateDir>/servers.json` (checking each pid still runs
 * the binary we started) and removes their data folders; servers given by environment variables
 * are only forgotten. Resolves with the names of the servers stopped. Throws if a process would
 * not die, naming it.
 */
export async function stopServers(options: StopServersOptions = {}): Promise<ServerName[]> {
  const layout = stateLayout(options.stateDir);
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
  const file = readServersFile(layout.stateDir);
  const record = file.servers[name];
  if (record === undefined) throw new Error(`${name} is not running under ${layout.stateDir}`);
  if (record.external)
    throw new Error(`${name} was given by an environment variable; the harness cannot restart it`);
  await stopProcesses(record.processes);
  const processes = await launchInOrder(
    name,
    record.processes.map(({ pid: _pid, ...spec }) => spec),
  );
  const restarted = { ...record, processes, pid: processes.at(-1)?.pid ?? null } as ServerRecord;
  saveServersFile(layout, withServer(readServersFile(layout.stateDir), restarted));
  return restarted;
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
