import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));

/** A line printed by test/fixtures/supervised-child.mjs (through the sidecar's stdout). */
export interface ChildLine {
  readonly child: "start" | "term" | "exit";
  /** TENURE_ID: the replica that started it. */
  readonly id: string;
  /** TENURE_FENCING_TOKEN. */
  readonly token: number;
  readonly pid: number;
  /** CLOCK_MONOTONIC when it printed the line (comparable with process.hrtime.bigint()). */
  readonly ns: bigint;
  readonly remainingMs?: number;
  readonly deadline?: string;
  readonly election?: string;
  readonly status?: number;
}

/** One `leader-elector` process, as a user would run it, with its log and HTTP port. */
export class Replica {
  readonly id: string;
  readonly #child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<number | null>;
  #log = "";
  /** stdout alone: the supervised children's lines, whole. */
  #stdout = "";
  #port: number | undefined;

  private constructor(id: string, child: ChildProcessWithoutNullStreams) {
    this.id = id;
    this.#child = child;
    this.exited = once(child, "exit").then(([code]) => code as number | null);
    const collect = (chunk: Buffer): void => {
      this.#log += chunk.toString();
    };
    child.stdout.on("data", (chunk: Buffer) => {
      this.#stdout += chunk.toString();
      collect(chunk);
    });
    child.stderr.on("data", collect);
  }

  /**
   * Starts a replica and resolves once it serves HTTP. `env` replaces the environment it gets
   * (default: this process's, marked as outside a cluster).
   */
  static async start(
    id: string,
    args: readonly string[],
    timeoutMs = 20_000,
    env: NodeJS.ProcessEnv = { ...process.env, KUBERNETES_SERVICE_HOST: "" },
  ): Promise<Replica> {
    const child = spawn(process.execPath, [CLI, `--id=${id}`, "--http=127.0.0.1:0", ...args], {
      stdio: ["pipe", "pipe", "pipe"],
      env,
    });
    const replica = new Replica(id, child);
    const port = await replica.waitForLog(/serving http on 127\.0\.0\.1:(\d+)/, timeoutMs);
    replica.#port = Number(port[1]);
    return replica;
  }

  get log(): string {
    return this.#log;
  }

  /** Base URL of its HTTP server. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Resolves once `GET /readyz` answers 200 (asked every 50 ms, as a readiness probe would). */
  async ready(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const status = (await fetch(`${this.url}/readyz`)).status;
      if (status === 200) return;
      if (performance.now() > deadline)
        throw new Error(`${this.id}: not ready within ${timeoutMs} ms; log:\n${this.#log}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** pid of the sidecar process. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Every line its supervised children printed so far, in order. */
  childLines(): ChildLine[] {
    return this.#stdout
      .slice(0, this.#stdout.lastIndexOf("\n") + 1)
      .split("\n")
      .filter((line) => line.startsWith('{"child":'))
      .map((line) => {
        const parsed = JSON.parse(line) as Omit<ChildLine, "ns"> & { ns: string };
        return { ...parsed, ns: BigInt(parsed.ns) };
      });
  }

  /** Waits for a line of its supervised child matching `predicate`. */
  async waitForChild(predicate: (line: ChildLine) => boolean, timeoutMs: number): Promise<ChildLine> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.childLines().find(predicate);
      if (found !== undefined) return found;
      const remaining = deadline - performance.now();
      if (remaining <= 0)
        throw new Error(`${this.id}: no such child line within ${timeoutMs} ms; log:\n${this.#log}`);
      await Promise.race([
        once(this.#child.stdout, "data"),
        new Promise((resolve) => setTimeout(resolve, remaining)),
      ]);
    }
  }

  /** Who this replica says leads: the `name` of `GET /`. */
  async leader(): Promise<string> {
    return (await this.answer()).name;
  }

  /** The whole answer of `GET /`: `{"name":"...","validForMs":...}`. */
  async answer(): Promise<{ name: string; validForMs?: number; fencingToken?: number }> {
    const response = await fetch(`http://127.0.0.1:${this.#port}/`);
    return (await response.json()) as { name: string; validForMs?: number; fencingToken?: number };
  }

  /** Resolves with the first match of `pattern` in the log, waiting for output as it comes. */
  async waitForLog(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.#log);
      if (match !== null) return match;
      const remaining = deadline - performance.now();
      if (remaining <= 0)
        throw new Error(`${this.id}: no ${pattern} within ${timeoutMs} ms; log:\n${this.#log}`);
      await Promise.race([
        once(this.#child.stderr, "data"),
        once(this.#child.stdout, "data"),
        this.exited,
        new Promise((resolve) => setTimeout(resolve, remaining)),
      ]);
    }
  }

  kill(signal: NodeJS.Signals): void {
    this.#child.kill(signal);
  }
}

/**
 * Asks every replica who leads until all give the same non-empty answer (other than `not`), and
 * returns it. Polling HTTP is what a user of the sidecar does; the interval is short and bounded.
 */
export async function agreedLeader(
  replicas: readonly Replica[],
  timeoutMs: number,
  not?: string,
): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  let answers: string[] = [];
  while (performance.now() < deadline) {
    answers = await Promise.all(replicas.map((replica) => replica.leader()));
    const [first] = answers;
    if (first !== undefined && first !== "" && first !== not && answers.every((answer) => answer === first))
      return first;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`replicas did not agree on a leader within ${timeoutMs} ms: ${JSON.stringify(answers)}`);
}
