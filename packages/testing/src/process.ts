import { spawn } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** Outcome of a command that ran to completion. */
export interface CommandResult {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
}

/** Options for {@link runCommand}. */
export interface RunCommandOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Output of the command is appended here. */
  readonly logFile: string;
  /** The command is killed (SIGKILL to its process group) after this long. */
  readonly timeoutMs: number;
}

/**
 * Runs a command to completion with its output appended to a log file; never hangs past
 * `timeoutMs`. Resolves with how it ended (a non-zero exit is not thrown: callers name the step).
 */
export function runCommand(
  command: string,
  args: readonly string[],
  options: RunCommandOptions,
): Promise<CommandResult> {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = openSync(options.logFile, "a");
  writeSync(log, `\n$ ${[command, ...args].join(" ")}\n`);
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", log, log],
      detached: true,
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, "SIGKILL");
    }, options.timeoutMs);
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      closeSync(log);
      resolvePromise({ exitCode, signal, timedOut });
    };
    child.once("error", (error) => {
      writeSync(log, `${error.message}\n`);
      finish(null, null);
    });
    child.once("exit", finish);
  });
}

/** Describes how a {@link CommandResult} ended, for error messages. */
export function describeResult(result: CommandResult, timeoutMs: number): string {
  if (result.timedOut) return `timed out after ${Math.round(timeoutMs / 1000)} s`;
  if (result.signal !== null) return `killed by ${result.signal}`;
  if (result.exitCode === null) return "could not be run";
  return `exited with code ${result.exitCode}`;
}

/** Options for {@link spawnDaemon}. */
export interface DaemonOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly logFile: string;
}

/**
 * Starts a long-running server process detached from this one (its own process group, output
 * to `logFile`), so it outlives the CLI that started it. Resolves with its pid once spawned.
 */
export function spawnDaemon(
  command: string,
  args: readonly string[],
  options: DaemonOptions,
): Promise<number> {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = openSync(options.logFile, "a");
  writeSync(log, `\n$ ${[command, ...args].join(" ")}\n`);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", log, log],
      detached: true,
    });
    child.once("error", (error) => {
      closeSync(log);
      reject(error);
    });
    child.once("spawn", () => {
      closeSync(log);
      child.unref();
      if (child.pid === undefined) reject(new Error(`${command} has no pid after spawning`));
      else resolvePromise(child.pid);
    });
  });
}

/** State letter of a process from /proc/<pid>/stat ("R", "S", "T", "Z", …), or undefined when gone. */
/** The state letter of a process, or of one of its threads (`tid` under `/proc/<pid>/task`). */
function stateLetter(pid: number, parent?: number): string | undefined {
  try {
    const path = parent === undefined ? `/proc/${pid}/stat` : `/proc/${parent}/task/${pid}/stat`;
    const stat = readFileSync(path, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is alive and still runs `binary` (guards against a recycled pid: a process is
 * only ours if its executable, or the start of its command line, is the binary we launched; the
 * command line covers Redis, which rewrites its title). A zombie counts as dead.
 */
export function isRunning(pid: number, binary: string): boolean {
  try {
    const state = stateLetter(pid);
    if (state === undefined || state === "Z" || state === "X") return false;
    if (readlinkSync(`/proc/${pid}/exe`) === realpathSync(binary)) return true;
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith(binary);
  } catch {
    return false;
  }
}

/** Whether `pid` runs `binary` and is stopped (SIGSTOP): alive, but answers nothing. */
export function isPaused(pid: number, binary: string): boolean {
  const state = stateLetter(pid);
  return (state === "T" || state === "t") && isRunning(pid, binary);
}

/** Sends `signal` to the process group led by `pid` (our daemons lead their own group). */
function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Stops a process we started: SIGTERM, then SIGKILL if it is still running after
 * `graceMs`, then waits (bounded) until it is gone. Does nothing if the pid no longer runs
 * `binary`. Resolves false if it could not be confirmed gone.
 */
export async function stopProcess(pid: number, binary: string, graceMs = 10_000): Promise<boolean> {
  if (!isRunning(pid, binary)) return true;
  killGroup(pid, "SIGTERM");
  // A paused (SIGSTOPped) process acts on SIGTERM only once it runs again.
  killGroup(pid, "SIGCONT");
  if (await waitUntilGone(pid, binary, graceMs)) return true;
  killGroup(pid, "SIGKILL");
  return waitUntilGone(pid, binary, 5_000);
}

/**
 * Whether a process that no longer runs has let go of everything: a multi-threaded process (etcd,
 * Consul, kube-apiserver are Go) shows its first thread as a zombie while the others still exit,
 * and its sockets close only with the last thread. A server restarted on the same ports before
 * then finds them taken.
 */
function threadsGone(pid: number): boolean {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return true; // reaped
  }
  return tasks.every((tid) => {
    const state = stateLetter(Number(tid), pid);
    return state === undefined || state === "Z" || state === "X";
  });
}

async function waitUntilGone(pid: number, binary: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const gone = (): boolean => !isRunning(pid, binary) && threadsGone(pid);
  while (Date.now() < deadline) {
    if (gone()) return true;
    await sleep(50);
  }
  return gone();
}

/**
 * Kills a process we started at once (SIGKILL to its group: no shutdown, like a crash) and waits
 * (bounded) until it is gone. Does nothing if the pid no longer runs `binary`. Resolves false if
 * it could not be confirmed gone.
 */
export async function killProcess(pid: number, binary: string): Promise<boolean> {
  if (!isRunning(pid, binary)) return true;
  killGroup(pid, "SIGKILL");
  return waitUntilGone(pid, binary, 5_000);
}

/**
 * Stops (SIGSTOP) the process group of a process we started and waits (bounded) until the
 * kernel shows it stopped. Throws if the pid does not run `binary` or does not stop.
 */
export async function pauseProcess(pid: number, binary: string, label: string): Promise<void> {
  if (!isRunning(pid, binary)) throw new Error(`${label} (pid ${pid}) is not running: cannot pause it`);
  killGroup(pid, "SIGSTOP");
  const deadline = Date.now() + 5_000;
  while (!isPaused(pid, binary)) {
    if (Date.now() >= deadline) throw new Error(`${label} (pid ${pid}) did not stop within 5 s of SIGSTOP`);
    await sleep(10);
  }
}

/**
 * Continues (SIGCONT) the process group of a process we started. Throws if the pid does not run
 * `binary`. It runs again at once; whether it serves again is for the caller to check.
 */
export function resumeProcess(pid: number, binary: string, label: string): void {
  if (!isRunning(pid, binary)) throw new Error(`${label} (pid ${pid}) is not running: cannot resume it`);
  killGroup(pid, "SIGCONT");
}
