/**
 * Candidates of one election, as the orchestrator sees them: separate processes (Tenure or
 * client-go) or, for the memory store, electors inside this process. All events land in one log
 * stamped with CLOCK_MONOTONIC nanoseconds.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { LockStore } from "@tenure/core";
import { Elector } from "@tenure/core";
import { MemoryServer } from "@tenure/memory";

import {
  CANDIDATE_ENV,
  type CandidateConfig,
  type CandidateLine,
  type StoreConfig,
  type Timing,
} from "./types.js";

export interface PoolEvent {
  readonly seq: number;
  readonly identity: string;
  readonly event: string;
  readonly ns: bigint;
  readonly leader?: string | null;
  readonly reason?: string;
  readonly message?: string;
  /** started-leading (Tenure): when the winning write was sent. */
  readonly writeSentNs?: bigint;
}

export type KillSignal = "SIGKILL" | "SIGTERM";

export interface CandidatePool {
  /** Starts one more candidate; resolves when it reports ready. */
  spawn(identity: string): Promise<void>;
  /** Kills (SIGKILL) or stops (SIGTERM: release) one candidate; returns the monotonic ns just before. */
  kill(identity: string, signal: KillSignal): bigint;
  /**
   * Asks the leader `identity` to hand over to `successor` (Tenure only). Its `hand-over-called`
   * event carries the moment it called `handOver()`.
   */
  handOver(identity: string, successor: string): void;
  /** Identities still running. */
  alive(): string[];
  /** Events seen so far. */
  readonly log: readonly PoolEvent[];
  /** The first event after `afterSeq` matching `match`, waiting at most `timeoutMs`. */
  waitFor(
    match: (event: PoolEvent) => boolean,
    afterSeq: number,
    timeoutMs: number,
  ): Promise<PoolEvent | undefined>;
  /** Stops every candidate (with release) and waits for them. */
  close(): Promise<void>;
}

class EventLog {
  readonly events: PoolEvent[] = [];
  readonly #waiters = new Set<() => void>();

  add(event: Omit<PoolEvent, "seq">): void {
    this.events.push({ ...event, seq: this.events.length });
    for (const wake of [...this.#waiters]) wake();
  }

  async waitFor(
    match: (event: PoolEvent) => boolean,
    afterSeq: number,
    timeoutMs: number,
  ): Promise<PoolEvent | undefined> {
    let next = Math.max(0, afterSeq + 1);
    const scan = (): PoolEvent | undefined => {
      for (; next < this.events.length; next++) {
        const event = this.events[next];
        if (event !== undefined && match(event)) return event;
      }
      return undefined;
    };
    const found = scan();
    if (found !== undefined) return found;
    return new Promise((resolve) => {
      const done = (event: PoolEvent | undefined): void => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(event);
      };
      const wake = (): void => {
        const event = scan();
        if (event !== undefined) done(event);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.#waiters.add(wake);
    });
  }
}

const candidateEntry = fileURLToPath(new URL("./candidate.js", import.meta.url));

interface Child {
  readonly process: ChildProcess;
  readonly exited: Promise<void>;
  stderr: string;
}

/** Base of the pools whose candidates are OS processes printing JSON lines. */
abstract class ProcessPool implements CandidatePool {
  protected readonly events = new EventLog();
  protected readonly children = new Map<string, Child>();

  get log(): readonly PoolEvent[] {
    return this.events.events;
  }

  protected abstract command(identity: string): { file: string; args: string[]; env: NodeJS.ProcessEnv };

  async spawn(identity: string): Promise<void> {
    const { file, args, env } = this.command(identity);
    const child = spawn(file, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const record: Child = { process: child, exited, stderr: "" };
    this.children.set(identity, record);
    const afterSeq = this.events.events.length - 1;
    child.stderr?.on("data", (chunk: Buffer) => {
      record.stderr = (record.stderr + chunk.toString()).slice(-4000);
    });
    child.once("exit", (code, signal) => {
      // A candidate that died on its own is no longer counted, so the next trial replaces it.
      if (this.children.get(identity) === record) this.children.delete(identity);
      this.events.add({ identity, event: "exit", ns: process.hrtime.bigint(), reason: `${code ?? signal}` });
    });
    if (child.stdout !== null) {
      createInterface({ input: child.stdout }).on("line", (line) => {
        const parsed = parseLine(line);
        if (parsed === undefined) return;
        this.events.add({
          identity,
          event: parsed.event,
          ns: BigInt(parsed.monotonicNs),
          ...(parsed.leader !== undefined ? { leader: parsed.leader } : {}),
          ...(parsed.reason !== undefined ? { reason: parsed.reason } : {}),
          ...(parsed.message !== undefined ? { message: parsed.message } : {}),
          ...(parsed.writeSentNs !== undefined ? { writeSentNs: BigInt(parsed.writeSentNs) } : {}),
        });
      });
    }
    const ready = await this.events.waitFor(
      (event) => event.identity === identity && (event.event === "ready" || event.event === "exit"),
      afterSeq,
      30_000,
    );
    if (ready?.event !== "ready") {
      child.kill("SIGKILL");
      throw new Error(
        `candidate ${identity} did not start: ${ready === undefined ? "no ready line in 30 s" : `exited ${ready.reason}`}\n${record.stderr.trim()}`,
      );
    }
  }

  kill(identity: string, signal: KillSignal): bigint {
    const child = this.children.get(identity);
    if (child === undefined) throw new Error(`no candidate ${identity}`);
    this.children.delete(identity);
    const at = process.hrtime.bigint();
    child.process.kill(signal);
    return at;
  }

  handOver(identity: string, successor: string): void {
    const child = this.children.get(identity);
    if (child === undefined) throw new Error(`no candidate ${identity}`);
    child.process.stdin?.write(`${JSON.stringify({ command: "hand-over", successor })}\n`);
  }

  alive(): string[] {
    return [...this.children.keys()];
  }

  waitFor(
    match: (event: PoolEvent) => boolean,
    afterSeq: number,
    timeoutMs: number,
  ): Promise<PoolEvent | undefined> {
    return this.events.waitFor(match, afterSeq, timeoutMs);
  }

  async close(): Promise<void> {
    const children = [...this.children.values()];
    this.children.clear();
    for (const child of children) child.process.kill("SIGTERM");
    await Promise.all(
      children.map((child) =>
        Promise.race([child.exited, new Promise<void>((resolve) => setTimeout(resolve, 5000).unref())]).then(
          () => {
            if (child.process.exitCode === null && child.process.signalCode === null)
              child.process.kill("SIGKILL");
          },
        ),
      ),
    );
  }
}

function parseLine(line: string): CandidateLine | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value !== "object" || value === null) return undefined;
    const fields = value as Record<string, unknown>;
    if (typeof fields.event !== "string" || typeof fields.monotonicNs !== "string") return undefined;
    return {
      event: fields.event,
      monotonicNs: fields.monotonicNs,
      ...(typeof fields.identity === "string" ? { identity: fields.identity } : {}),
      ...(typeof fields.reason === "string" ? { reason: fields.reason } : {}),
      ...(typeof fields.leader === "string" || fields.leader === null ? { leader: fields.leader } : {}),
      // client-go's peer names the new leader in `identity`.
      ...(fields.event === "new-leader" && fields.leader === undefined && typeof fields.identity === "string"
        ? { leader: fields.identity }
        : {}),
      ...(typeof fields.message === "string" ? { message: fields.message } : {}),
      ...(typeof fields.writeSentNs === "string" && /^[0-9]+$/.test(fields.writeSentNs)
        ? { writeSentNs: fields.writeSentNs }
        : {}),
    };
  } catch {
    return undefined;
  }
}

/** Tenure candidates, each `node dist/candidate.js`. */
export class TenurePool extends ProcessPool {
  constructor(
    readonly store: StoreConfig,
    readonly election: string,
    readonly timing: Timing,
  ) {
    super();
  }

  protected command(identity: string): { file: string; args: string[]; env: NodeJS.ProcessEnv } {
    const config: CandidateConfig = {
      store: this.store,
      election: this.election,
      identity,
      timing: this.timing,
      maxLifetimeMs: 10 * 60_000,
    };
    return {
      file: process.execPath,
      args: [candidateEntry],
      env: { ...process.env, [CANDIDATE_ENV]: JSON.stringify(config) },
    };
  }
}

/** client-go candidates: the interop Go program (k8s.io/client-go/tools/leaderelection, LeaseLock). */
export class ClientGoPool extends ProcessPool {
  constructor(
    readonly binary: string,
    readonly kubeconfig: string,
    readonly namespace: string,
    readonly election: string,
    readonly timing: Timing,
  ) {
    super();
  }

  protected command(identity: string): { file: string; args: string[]; env: NodeJS.ProcessEnv } {
    return {
      file: this.binary,
      args: [
        `--kubeconfig=${this.kubeconfig}`,
        `--namespace=${this.namespace}`,
        `--name=${this.election}`,
        `--identity=${identity}`,
        `--lease-duration=${this.timing.leaseDurationMs}ms`,
        `--renew-deadline=${this.timing.renewDeadlineMs}ms`,
        `--retry-period=${this.timing.retryPeriodMs}ms`,
        "--release-on-cancel=true",
      ],
      env: { ...process.env },
    };
  }
}

/**
 * Memory-store candidates: a memory server lives in one process, so these electors share this
 * one. SIGKILL is simulated by stopping without release and without any further store call (the
 * lock stays held until it expires); SIGTERM by stop with release.
 */
export class MemoryPool implements CandidatePool {
  readonly #events = new EventLog();
  readonly #electors = new Map<string, { elector: Elector; store: LockStore }>();
  readonly #stopping: Promise<void>[] = [];
  #server: MemoryServer | undefined;

  constructor(
    readonly election: string,
    readonly timing: Timing,
  ) {}

  get log(): readonly PoolEvent[] {
    return this.#events.events;
  }

  async spawn(identity: string): Promise<void> {
    // One memory server for every in-process candidate: the registry's memory store is private to a call.
    this.#server ??= new MemoryServer();
    const store = this.#server.connect();
    const elector = new Elector({ store, name: this.election, identity, ...this.timing });
    elector.subscribe((event) => {
      const ns = process.hrtime.bigint();
      switch (event.type) {
        case "started-leading":
        case "renewed":
          this.#events.add({ identity, event: event.type, ns });
          return;
        case "stopped-leading":
          this.#events.add({ identity, event: event.type, ns, reason: event.reason });
          return;
        case "leader-changed":
          this.#events.add({ identity, event: "new-leader", ns, leader: event.leader });
          return;
        case "store-error":
          this.#events.add({ identity, event: "store-error", ns, message: event.error.message });
          return;
        case "stopped":
          this.#events.add({ identity, event: "exit", ns });
          return;
      }
    });
    this.#electors.set(identity, { elector, store });
    elector.start();
    this.#events.add({ identity, event: "ready", ns: process.hrtime.bigint() });
  }

  kill(identity: string, signal: KillSignal): bigint {
    const entry = this.#electors.get(identity);
    if (entry === undefined) throw new Error(`no candidate ${identity}`);
    this.#electors.delete(identity);
    const at = process.hrtime.bigint();
    this.#stopping.push(
      entry.elector.stop({ release: signal === "SIGTERM" }).then(() => entry.store.close()),
    );
    return at;
  }

  handOver(identity: string, successor: string): void {
    const entry = this.#electors.get(identity);
    if (entry === undefined) throw new Error(`no candidate ${identity}`);
    this.#events.add({ identity, event: "hand-over-called", ns: process.hrtime.bigint() });
    entry.elector.handOver(successor).then(
      () => this.#events.add({ identity, event: "handed-over", ns: process.hrtime.bigint() }),
      (error: unknown) =>
        this.#events.add({
          identity,
          event: "hand-over-failed",
          ns: process.hrtime.bigint(),
          message: error instanceof Error ? error.message : String(error),
        }),
    );
  }

  alive(): string[] {
    return [...this.#electors.keys()];
  }

  waitFor(
    match: (event: PoolEvent) => boolean,
    afterSeq: number,
    timeoutMs: number,
  ): Promise<PoolEvent | undefined> {
    return this.#events.waitFor(match, afterSeq, timeoutMs);
  }

  async close(): Promise<void> {
    for (const identity of this.alive()) this.kill(identity, "SIGTERM");
    await Promise.all(this.#stopping);
  }
}
