// Builds and runs interop/endpoints-elector: a stand-in for the 2016 leader-elector sidecar, one
// client-go v0.23 candidate on the Endpoints annotation lock per child process, reporting its events
// as JSON lines stamped with CLOCK_MONOTONIC (the format of client-go-elector, parsed by the same
// function).
//
// Built and cached like client-go-elector (see client-go-elector.ts): keyed by the hash of its own
// sources, in the harness's binary cache folder, CGO_ENABLED=0, -trimpath, -mod=readonly, written
// under a temporary name and renamed, with a build log named in errors.
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
import { type ClientGoEvent, type ClientGoExit, parseClientGoEvent } from "./client-go-elector.js";

/** The Go module of the program. */
export const endpointsElectorModuleDir: string = fileURLToPath(
  new URL("../../interop/endpoints-elector", import.meta.url),
);

const sourceFiles = ["go.mod", "go.sum", "main.go"] as const;

/** A cold build downloads client-go v0.23 and its dependencies: minutes on two cores. */
const buildTimeoutMs = 20 * 60_000;

/** Where the logs of this program's builds and runs go (gitignored, beside the harness's). */
export const endpointsElectorLogDir: string = join(defaultStateDir, "logs", "endpoints-elector");

function sourceHash(): string {
  const hash = createHash("sha256");
  for (const file of sourceFiles) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(join(endpointsElectorModuleDir, file)));
    hash.update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

/** `<cache>/bin/endpoints-elector-<source hash>`. */
export function endpointsElectorBinaryPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(binaryCacheDir(env), `endpoints-elector-${sourceHash()}`);
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

/**
 * Returns the path of the cached binary, building it first when the cache lacks it. Throws a
 * ServerSetupError naming the command, how it ended, the log file and the log's last lines.
 */
export async function ensureEndpointsElector(onBuild?: (message: string) => void): Promise<string> {
  const target = endpointsElectorBinaryPath();
  if (isExecutable(target)) return target;

  mkdirSync(endpointsElectorLogDir, { recursive: true });
  mkdirSync(binaryCacheDir(), { recursive: true });
  const logFile = join(endpointsElectorLogDir, `build-${target.slice(target.lastIndexOf("-") + 1)}.log`);
  const temporary = `${target}.partial-${process.pid}`;
  const args = ["build", "-trimpath", "-ldflags", "-s -w", "-o", temporary, "."];
  onBuild?.(`building endpoints-elector (log: ${logFile})`);
  const log = openSync(logFile, "w");
  writeSync(log, `$ (cd ${endpointsElectorModuleDir} && go ${args.join(" ")})\n`);
  const outcome = await new Promise<string | undefined>((resolve) => {
    const child = spawn("go", args, {
      cwd: endpointsElectorModuleDir,
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
      "endpoints-elector",
      `build (cd ${endpointsElectorModuleDir} && go ${args.join(" ")})`,
      `${outcome ?? "produced no binary"}; last lines:\n${tail(logFile, 20)}\n`,
      logFile,
    );
  }
  renameSync(temporary, target);
  return target;
}

/** Options of one candidate: the 2016 sidecar's flags, plus the kubeconfig to use. */
export interface EndpointsCandidateOptions {
  readonly binary: string;
  readonly kubeconfig: string;
  /** `--election`: the Endpoints object's name. */
  readonly election: string;
  /** `--election-namespace`. */
  readonly namespace: string;
  /** `--id`. */
  readonly id: string;
  /** `--ttl`, a Go duration ("4s"): lease ttl, renew deadline ttl/2, retry period ttl/4. */
  readonly ttl: string;
  /** Release the lock on SIGTERM (default false, as the 2016 sidecar). */
  readonly releaseOnCancel?: boolean;
  /** Called for every line, in order, as it arrives. */
  readonly onEvent: (event: ClientGoEvent) => void;
  /** Called once when the process has exited (after every line it printed). */
  readonly onExit: (exit: ClientGoExit) => void;
  /** Called when a line cannot be parsed (the test should fail with it). */
  readonly onProtocolError: (error: Error) => void;
}

/** One running 2016-style candidate. Its stderr (klog) goes to {@link logFile}. */
export class EndpointsCandidate {
  readonly id: string;
  readonly logFile: string;
  readonly exited: Promise<ClientGoExit>;
  readonly #child: ChildProcess;

  constructor(options: EndpointsCandidateOptions) {
    this.id = options.id;
    mkdirSync(endpointsElectorLogDir, { recursive: true });
    this.logFile = join(endpointsElectorLogDir, `${options.namespace}-${options.election}-${options.id}.log`);
    const log = openSync(this.logFile, "a");
    const args = [
      `--kubeconfig=${options.kubeconfig}`,
      `--election=${options.election}`,
      `--election-namespace=${options.namespace}`,
      `--id=${options.id}`,
      `--ttl=${options.ttl}`,
      `--release-on-cancel=${String(options.releaseOnCancel ?? false)}`,
    ];
    writeSync(log, `$ ${options.binary} ${args.join(" ")}\n`);
    this.#child = spawn(options.binary, args, { stdio: ["ignore", "pipe", log] });
    closeSync(log);
    const stdout = this.#child.stdout;
    if (stdout === null) throw new Error("endpoints-elector: no stdout pipe");
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
        options.onProtocolError(new Error(`endpoints-elector could not start: ${error.message}`));
      });
      this.#child.once("exit", (code, signal) => {
        const exit = { code, signal, observedNs: process.hrtime.bigint() };
        void linesDone.then(() => {
          options.onExit(exit);
          resolve(exit);
        });
      });
    });
  }

  /** Whether the process has not exited yet. */
  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** SIGTERM: the pod is deleted (the 2016 sidecar did not release); SIGKILL: a crash. */
  signal(signal: "SIGTERM" | "SIGKILL"): void {
    if (this.running) this.#child.kill(signal);
  }
}
