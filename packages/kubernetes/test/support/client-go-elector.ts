// Builds and runs interop/client-go-elector: one client-go leader-election candidate (LeaseLock)
// per child process, reporting its events as JSON lines stamped with CLOCK_MONOTONIC.
//
// The harness's ensureGoBinary only builds the wrapper modules listed in @tenure/testing's
// versions.ts, keyed by a release version; this program is keyed by the hash of its own sources
// instead, but shares the harness's binary cache folder and its conventions (CGO_ENABLED=0,
// -trimpath, -mod=readonly, write to a temporary name then rename, a build log named in errors).
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { binaryCacheDir, defaultStateDir, ServerSetupError } from "@tenure/testing";

/** The Go module of the program. */
export const clientGoElectorModuleDir: string = fileURLToPath(
  new URL("../../interop/client-go-elector", import.meta.url),
);

/** Everything the binary is built from: a change to any of them makes a new cache entry. */
const sourceFiles = ["go.mod", "go.sum", "main.go"] as const;

/** A cold build (empty Go build cache, modules to download) takes minutes on two cores. */
const buildTimeoutMs = 20 * 60_000;

/** Where the logs of this program's builds and runs go (gitignored, beside the harness's). */
export const clientGoElectorLogDir: string = join(defaultStateDir, "logs", "client-go-elector");

/** Hash of the program's sources: the cache key. */
export function clientGoElectorSourceHash(): string {
  const hash = createHash("sha256");
  for (const file of sourceFiles) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(join(clientGoElectorModuleDir, file)));
    hash.update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

/** `<cache>/bin/client-go-elector-<source hash>`, the same folder the harness caches servers in. */
export function clientGoElectorBinaryPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(binaryCacheDir(env), `client-go-elector-${clientGoElectorSourceHash()}`);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** What {@link ensureClientGoElector} did. */
export interface ClientGoElectorBinary {
  readonly path: string;
  /** False when the cache already held it. */
  readonly built: boolean;
  /** Time spent building (0 when cached). */
  readonly buildMs: number;
}

/**
 * Returns the cached binary, building it first when the cache lacks it. Throws a
 * ServerSetupError naming the command, how it ended, the log file and the log's last lines.
 */
export async function ensureClientGoElector(
  onBuild?: (message: string) => void,
): Promise<ClientGoElectorBinary> {
  const target = clientGoElectorBinaryPath();
  if (isExecutable(target)) return { path: target, built: false, buildMs: 0 };

  mkdirSync(clientGoElectorLogDir, { recursive: true });
  mkdirSync(binaryCacheDir(), { recursive: true });
  const logFile = join(clientGoElectorLogDir, `build-${target.slice(target.lastIndexOf("-") + 1)}.log`);
  const temporary = `${target}.partial-${process.pid}`;
  const args = ["build", "-trimpath", "-ldflags", "-s -w", "-o", temporary, "."];
  onBuild?.(`building client-go-elector (log: ${logFile})`);
  const started = performance.now();
  // One log per source version, rewritten by each build, so its last lines are this build's.
  const log = openSync(logFile, "w");
  writeSync(log, `$ (cd ${clientGoElectorModuleDir} && go ${args.join(" ")})\n`);
  const outcome = await new Promise<string | undefined>((resolve) => {
    const child = spawn("go", args, {
      cwd: clientGoElectorModuleDir,
      env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=readonly -buildvcs=false" },
      stdio: ["ignore", log, log],
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), buildTimeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      resolve(`could not run go (the Go toolchain, 1.26 or later, must be on PATH): ${error.message}`);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(undefined);
      else if (signal !== null) resolve(`killed by ${signal} (time limit ${buildTimeoutMs / 60_000} min)`);
      else resolve(`exited with code ${code}`);
    });
  });
  closeSync(log);
  if (outcome !== undefined || !existsSync(temporary)) {
    rmSync(temporary, { force: true });
    throw new ServerSetupError(
      "client-go-elector",
      `build (cd ${clientGoElectorModuleDir} && go ${args.join(" ")})`,
      `${outcome ?? "produced no binary"}; last lines:\n${tail(logFile, 20)}\n`,
      logFile,
    );
  }
  renameSync(temporary, target);
  return { path: target, built: true, buildMs: performance.now() - started };
}

/** One line the program prints. `monotonicNs` is CLOCK_MONOTONIC, comparable with process.hrtime.bigint(). */
export type ClientGoEvent =
  | { readonly event: "ready"; readonly identity: string; readonly monotonicNs: bigint }
  | { readonly event: "new-leader"; readonly identity: string; readonly monotonicNs: bigint }
  | { readonly event: "started-leading"; readonly monotonicNs: bigint }
  | { readonly event: "stopped-leading"; readonly monotonicNs: bigint }
  | {
      readonly event: "exiting";
      readonly code: number;
      readonly reason: string;
      readonly monotonicNs: bigint;
    }
  | ClientGoWrite;

/**
 * A create or update of the Lease, reported once its answer is in (only with `reportWrites`).
 * `sentNs` is when the call started, `monotonicNs` when it returned (both CLOCK_MONOTONIC).
 */
export interface ClientGoWrite {
  readonly event: "write";
  readonly call: "create" | "update";
  readonly ok: boolean;
  readonly holderIdentity: string;
  /** The record's renewTime as the Lease stores it (MicroTime), to match the version a watch sees. */
  readonly renewTime: string;
  readonly sentNs: bigint;
  readonly monotonicNs: bigint;
  /** Why it failed (absent when `ok`). */
  readonly error?: string;
}

function field(object: Record<string, unknown>, name: string, line: string): string {
  const value = object[name];
  if (typeof value !== "string")
    throw new Error(`client-go-elector printed ${line}: "${name}" is not a string`);
  return value;
}

/** Parses one line of the program's stdout; throws on anything it does not print. */
export function parseClientGoEvent(line: string): ClientGoEvent {
  const parsed: unknown = JSON.parse(line);
  if (typeof parsed !== "object" || parsed === null) throw new Error(`client-go-elector printed ${line}`);
  const object = parsed as Record<string, unknown>;
  const monotonicNs = BigInt(field(object, "monotonicNs", line));
  const event = field(object, "event", line);
  switch (event) {
    case "ready":
    case "new-leader":
      return { event, identity: field(object, "identity", line), monotonicNs };
    case "started-leading":
    case "stopped-leading":
      return { event, monotonicNs };
    case "exiting": {
      const code = object.code;
      if (typeof code !== "number") throw new Error(`client-go-elector printed ${line}: no exit code`);
      return { event, code, reason: field(object, "reason", line), monotonicNs };
    }
    case "write": {
      const call = field(object, "call", line);
      if (call !== "create" && call !== "update")
        throw new Error(`client-go-elector printed ${line}: unknown call`);
      const ok = object.ok;
      if (typeof ok !== "boolean")
        throw new Error(`client-go-elector printed ${line}: "ok" is not a boolean`);
      const write: ClientGoWrite = {
        event,
        call,
        ok,
        holderIdentity: field(object, "holderIdentity", line),
        renewTime: field(object, "renewTime", line),
        sentNs: BigInt(field(object, "sentNs", line)),
        monotonicNs,
      };
      return ok ? write : { ...write, error: field(object, "error", line) };
    }
    default:
      throw new Error(`client-go-elector printed an unknown event: ${line}`);
  }
}

/** How a candidate process ended, with the time this process saw it end (process.hrtime.bigint()). */
export interface ClientGoExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly observedNs: bigint;
}

/** Options of one candidate: the program's flags. */
export interface ClientGoCandidateOptions {
  readonly binary: string;
  readonly kubeconfig: string;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  /** Go durations, e.g. "2s", "1400ms". */
  readonly leaseDuration: string;
  readonly renewDeadline: string;
  readonly retryPeriod: string;
  readonly releaseOnCancel?: boolean;
  /** Also report every write to the Lease as a `write` event (default false). */
  readonly reportWrites?: boolean;
  /**
   * Run as a Coordinated Leader Election candidate (`--coordinated`): publish a LeaseCandidate with
   * these versions and strategy, and let kube-apiserver's coordinator pick the holder.
   */
  readonly coordinated?: {
    readonly binaryVersion: string;
    readonly emulationVersion?: string;
    readonly strategy?: string;
  };
  /** Called for every line, in order, as it arrives. */
  readonly onEvent: (event: ClientGoEvent) => void;
  /** Called once when the process has exited. */
  readonly onExit: (exit: ClientGoExit) => void;
  /** Called when a line cannot be parsed (the test should fail with it). */
  readonly onProtocolError: (error: Error) => void;
}

/** One running client-go candidate. Its stderr (client-go's klog output) goes to {@link logFile}. */
export class ClientGoCandidate {
  readonly identity: string;
  readonly logFile: string;
  readonly exited: Promise<ClientGoExit>;
  readonly #child: ChildProcess;

  constructor(options: ClientGoCandidateOptions) {
    this.identity = options.identity;
    mkdirSync(clientGoElectorLogDir, { recursive: true });
    this.logFile = join(
      clientGoElectorLogDir,
      `${options.namespace}-${options.name}-${options.identity}.log`,
    );
    const log = openSync(this.logFile, "a");
    const args = [
      `--kubeconfig=${options.kubeconfig}`,
      `--namespace=${options.namespace}`,
      `--name=${options.name}`,
      `--identity=${options.identity}`,
      `--lease-duration=${options.leaseDuration}`,
      `--renew-deadline=${options.renewDeadline}`,
      `--retry-period=${options.retryPeriod}`,
      `--release-on-cancel=${String(options.releaseOnCancel ?? true)}`,
      ...(options.reportWrites === true ? ["--report-writes"] : []),
      ...(options.coordinated === undefined
        ? []
        : [
            "--coordinated",
            `--binary-version=${options.coordinated.binaryVersion}`,
            `--emulation-version=${options.coordinated.emulationVersion ?? options.coordinated.binaryVersion}`,
            ...(options.coordinated.strategy === undefined
              ? []
              : [`--strategy=${options.coordinated.strategy}`]),
          ]),
    ];
    writeSync(log, `$ ${options.binary} ${args.join(" ")}\n`);
    this.#child = spawn(options.binary, args, { stdio: ["ignore", "pipe", log] });
    closeSync(log);
    const stdout = this.#child.stdout;
    if (stdout === null) throw new Error("client-go-elector: no stdout pipe");
    const lines = createInterface({ input: stdout });
    const linesDone = new Promise<void>((resolve) => lines.once("close", resolve));
    lines.on("line", (line) => {
      try {
        options.onEvent(parseClientGoEvent(line));
      } catch (error) {
        options.onProtocolError(error instanceof Error ? error : new Error(String(error)));
      }
    });
    this.exited = new Promise((resolve) => {
      this.#child.once("error", (error) => {
        options.onProtocolError(new Error(`client-go-elector could not start: ${error.message}`));
      });
      this.#child.once("exit", (code, signal) => {
        const exit = { code, signal, observedNs: process.hrtime.bigint() };
        // Every line the process printed is delivered before its exit is reported.
        void linesDone.then(() => {
          options.onExit(exit);
          resolve(exit);
        });
      });
    });
  }

  /** pid of the process, once spawned. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Whether the process has not exited yet. */
  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Sends `signal` (SIGTERM: cancel the context and release; SIGKILL: a crash). */
  signal(signal: "SIGTERM" | "SIGKILL"): void {
    if (this.running) this.#child.kill(signal);
  }
}
