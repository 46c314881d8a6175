import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { repoRoot } from "@tenure/testing";

/** npm settings that say how to reach the registry: a stranger's npm has them too (from ~/.npmrc or CI). */
const REGISTRY_SETTINGS =
  /^npm_config_(registry|@[^:]+:registry|cafile|ca|proxy|https_proxy|noproxy|strict_ssl|userconfig|cache)$/i;

/**
 * The environment of a stranger's shell: none of the npm_* variables that the `npm test` running
 * this exports (its lifecycle, its package, its prefix) except how to reach the registry, no
 * node_modules/.bin of the workspace on PATH (the consumer's own tools must be the ones found), and
 * Node.js 24 first on PATH (the repository's pinned runtime, as `node` and for npm).
 */
export function strangerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (REGISTRY_SETTINGS.test(key)) {
      env[key] = value;
      continue;
    }
    if (/^(npm_|NODE_OPTIONS$|NODE_PATH$|VITEST|TURBO_|INIT_CWD$)/i.test(key)) continue;
    env[key] = value;
  }
  const path = (process.env.PATH ?? "").split(delimiter).filter((entry) => !entry.startsWith(repoRoot));
  env.PATH = [dirname(process.execPath), ...path].join(delimiter);
  return { ...env, NO_COLOR: "1", ...extra };
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end; rejects with its output when it fails or runs past `timeoutMs`. */
export async function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; allowFailure?: boolean },
): Promise<RunResult> {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? strangerEnv() });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timeoutMs = options.timeoutMs ?? 120_000;
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [code] = (await once(child, "close")) as [number | null];
  clearTimeout(timer);
  const result = { code, stdout, stderr };
  if (code !== 0 && options.allowFailure !== true) {
    throw new Error(
      `\`${command} ${args.join(" ")}\` in ${options.cwd} ${code === null ? `ran past ${timeoutMs} ms` : `exited ${code}`}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`,
    );
  }
  return result;
}

/** A long-running process whose output a test can wait on. */
export class Running {
  readonly child: ChildProcess;
  #stdout = "";
  #stderr = "";
  readonly #exit: Promise<number | null>;
  readonly label: string;

  readonly #group: boolean;

  /**
   * `group`: start it in a process group of its own and signal the whole group, as a terminal's
   * Ctrl-C does. Needed for `npx`: npm exec runs the command under `sh -c`, and a signal sent to npm
   * alone never reaches the command.
   */
  constructor(
    label: string,
    command: string,
    args: readonly string[],
    options: { cwd: string; env: NodeJS.ProcessEnv; group?: boolean },
  ) {
    this.label = label;
    this.#group = options.group === true;
    this.child = spawn(command, args, { cwd: options.cwd, env: options.env, detached: this.#group });
    this.child.stdout?.on("data", (chunk: Buffer) => {
      this.#stdout += chunk.toString();
    });
    this.child.stderr?.on("data", (chunk: Buffer) => {
      this.#stderr += chunk.toString();
    });
    this.#exit = once(this.child, "close").then(([code]) => code as number | null);
  }

  get stdout(): string {
    return this.#stdout;
  }

  get output(): string {
    return `--- ${this.label} stdout\n${this.#stdout}\n--- ${this.label} stderr\n${this.#stderr}`;
  }

  /** Resolves when stdout matches `pattern`; rejects (with the output) on exit or after `timeoutMs`. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.#exit.then(() => {
      exited = true;
    });
    for (;;) {
      const match = pattern.exec(this.#stdout);
      if (match !== null) return match;
      if (exited) throw new Error(`${this.label} exited before printing ${pattern}\n${this.output}`);
      if (Date.now() > deadline)
        throw new Error(`${this.label} printed no ${pattern} within ${timeoutMs} ms\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The exit code, once it exits; SIGKILL and a rejection after `timeoutMs`. */
  async exited(timeoutMs: number): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill();
        reject(new Error(`${this.label} did not exit within ${timeoutMs} ms\n${this.output}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.#exit, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal` to it (to its whole process group when started with `group`). */
  signal(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (this.#group && pid !== undefined) process.kill(-pid, signal);
    else this.child.kill(signal);
  }

  /** Stops it for good, whatever state it is in (cleanup after a failure). */
  kill(): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    try {
      this.signal("SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** A quick start from a README: a fenced block whose first line names its file (`// report.mjs — …`). */
export interface QuickStart {
  readonly file: string;
  /** The README it comes from, relative to the repository root. */
  readonly readme: string;
  readonly code: string;
}

const FILE_LINE = /^\/\/ ([\w.-]+\.(?:mjs|cjs|js|ts|mts|cts))(?:\s|$)/;

/** Every README a user reads: the root's and each public package's. */
export function readmes(): string[] {
  const found = ["README.md"];
  for (const group of ["packages", "apps"]) {
    for (const name of readdirSync(join(repoRoot, group)).sort()) {
      const manifest = join(repoRoot, group, name, "package.json");
      let isPublic = false;
      try {
        isPublic = (JSON.parse(readFileSync(manifest, "utf8")) as { private?: boolean }).private !== true;
      } catch {
        continue;
      }
      if (isPublic) found.push(join(group, name, "README.md"));
    }
  }
  return found;
}

/** The quick starts of the READMEs, by file name (a name used twice is an error). */
export function quickStarts(): Map<string, QuickStart> {
  const found = new Map<string, QuickStart>();
  for (const readme of readmes()) {
    const text = readFileSync(join(repoRoot, readme), "utf8");
    for (const block of text.matchAll(/^```[a-z]*\n([\s\S]*?)^```$/gm)) {
      const code = block[1] ?? "";
      const file = FILE_LINE.exec(code)?.[1];
      if (file === undefined) continue;
      const previous = found.get(file);
      if (previous !== undefined)
        throw new Error(`${file} is a quick start of both ${previous.readme} and ${readme}`);
      found.set(file, { file, readme, code });
    }
  }
  return found;
}
