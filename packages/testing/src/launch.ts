import { messageOf, ServerSetupError } from "./errors.ts";
import type { StateLayout } from "./paths.ts";
import { spawnDaemon, stopProcess } from "./process.ts";
import { waitUntilReady } from "./readiness.ts";
import type { ManagedProcess, ServerName } from "./state.ts";

/** What every server module gets to start its server. */
export interface StartContext {
  readonly layout: StateLayout;
  /** Keep every acknowledged write across a restart (Redis AOF always, etcd fsync). */
  readonly durable: boolean;
  /** kube-apiserver with the CoordinatedLeaderElection gate and coordination.k8s.io/v1beta1 on. */
  readonly coordinatedLeaderElection?: boolean;
  /** Progress messages for people (the CLI prints them; tests stay quiet). */
  readonly log: (message: string) => void;
}

/** A process to start: everything but the pid. */
export type ProcessSpec = Omit<ManagedProcess, "pid">;

/**
 * Starts one server process without waiting for it (callers that must record its pid before the
 * wait use this with {@link waitForProcess}). Throws a {@link ServerSetupError} if it cannot be spawned.
 */
export async function spawnProcess(server: string, spec: ProcessSpec): Promise<ManagedProcess> {
  // Spawned by the path given, not its target: redis-server is a symlink whose name selects the mode.
  try {
    const pid = await spawnDaemon(spec.binary, spec.args, { logFile: spec.logFile });
    return { ...spec, pid };
  } catch (error) {
    throw new ServerSetupError(server, `start ${spec.label}`, messageOf(error), spec.logFile, error);
  }
}

/**
 * Waits until a started process passes its readiness probe. If it does not, the process is
 * stopped and a {@link ServerSetupError} naming its log is thrown.
 */
export async function waitForProcess(server: string, managed: ManagedProcess): Promise<void> {
  try {
    await waitUntilReady({
      server,
      pid: managed.pid,
      binary: managed.binary,
      logFile: managed.logFile,
      probe: managed.probe,
      timeoutMs: managed.readyTimeoutMs,
    });
  } catch (error) {
    await stopProcess(managed.pid, managed.binary);
    throw error;
  }
}

/**
 * Starts one server process and waits until its readiness probe passes. If it does not become
 * ready, the process is stopped and a {@link ServerSetupError} naming its log is thrown.
 */
export async function launchProcess(server: ServerName, spec: ProcessSpec): Promise<ManagedProcess> {
  const managed = await spawnProcess(server, spec);
  await waitForProcess(server, managed);
  return managed;
}

/** Stops processes in reverse start order; resolves with the labels that could not be confirmed gone. */
export async function stopProcesses(processes: readonly ManagedProcess[]): Promise<string[]> {
  const stuck: string[] = [];
  for (const managed of [...processes].reverse()) {
    if (!(await stopProcess(managed.pid, managed.binary)))
      stuck.push(`${managed.label} (pid ${managed.pid})`);
  }
  return stuck;
}

/**
 * Starts processes in order (each must be ready before the next starts, e.g. etcd before the
 * apiserver); if one fails, those already started are stopped before the error is rethrown.
 */
export async function launchInOrder(
  server: ServerName,
  specs: readonly ProcessSpec[],
): Promise<ManagedProcess[]> {
  const started: ManagedProcess[] = [];
  try {
    for (const spec of specs) started.push(await launchProcess(server, spec));
    return started;
  } catch (error) {
    await stopProcesses(started);
    throw error;
  }
}
