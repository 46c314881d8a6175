import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { constants } from "node:os";
import { fileURLToPath } from "node:url";
import type { Elector, ElectorEvent, Logger } from "@tenure/core";

/** How a supervised child ended. */
export interface ChildExit {
  /** The child's exit code, or `null` when a signal ended it. */
  readonly code: number | null;
  /** The signal that ended it, or `null`. */
  readonly signal: NodeJS.Signals | null;
  /** The fencing token of the term it ran in. */
  readonly fencingToken: number;
  /** Whether it exited on its own: neither the end of the term nor a shutdown had asked it to stop. */
  readonly onItsOwn: boolean;
}

/** What a supervisor reports to `subscribe` listeners. `atNs` is CLOCK_MONOTONIC (process.hrtime.bigint()). */
export type SupervisorEvent =
  | {
      readonly type: "child-started";
      readonly pid: number;
      readonly fencingToken: number;
      readonly atNs: bigint;
    }
  | ({ readonly type: "child-exited"; readonly pid: number | undefined; readonly atNs: bigint } & ChildExit);

/** The process exit status that reports a child's end: its code, or 128 + the signal's number. */
export function exitStatus(exit: ChildExit): number {
  if (exit.code !== null) return exit.code;
  const number = exit.signal === null ? undefined : constants.signals[exit.signal];
  return 128 + (number ?? 0);
}

export interface SupervisorOptions {
  /** The program and its arguments. */
  readonly command: readonly string[];
  /** SIGKILL this long after the term's deadline (see SuperviseFlags.killGraceMs). */
  readonly killGraceMs: number;
  /** On shutdown: time the child has to exit after SIGTERM before SIGKILL. */
  readonly stopTimeoutMs: number;
  readonly logger: Logger;
  /** The environment the child starts from (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** Called once when a child exits on its own while this replica leads. */
  readonly onExitOnItsOwn?: (exit: ChildExit) => void;
}

/** One running child (through its guard) and what is known about its term. */
interface Running {
  readonly guard: ChildProcess;
  readonly fencingToken: number;
  /** The child's pid once the guard reported it: also its process group. */
  pid: number | undefined;
  /** The term's deadline as last reported, on the elector's clock (ms). */
  safeUntilMs: number;
  /** Set once the child was asked to stop (the term ended, or shutdown). */
  stopRequested: boolean;
  /** Set once the term ended: its deadline no longer moves. */
  termOver: boolean;
  /** On shutdown, when the child must be gone whatever the term (elector's clock, ms). */
  stopByMs: number;
  readonly exited: Promise<ChildExit>;
}

/** The guard program: compiled next to this file, or its source when running from the sources. */
function guardPath(): string {
  const compiled = fileURLToPath(new URL("./guard.js", import.meta.url));
  return existsSync(compiled) ? compiled : fileURLToPath(new URL("./guard.ts", import.meta.url));
}

/**
 * Converts a time on the elector's clock (`performance.now()` milliseconds) to CLOCK_MONOTONIC
 * nanoseconds (`process.hrtime.bigint()`), which the guard process reads: both count from the same
 * monotonic source, so the conversion is exact up to the microseconds between the two readings.
 */
export function toMonotonicNs(atMs: number): bigint {
  return process.hrtime.bigint() + BigInt(Math.round((atMs - performance.now()) * 1e6));
}

/**
 * Supervise mode: runs a command while this replica leads.
 *
 * - A term begins: the command starts (after the previous child, if any, has exited) with
 *   TENURE_FENCING_TOKEN, TENURE_LEADER_DEADLINE (RFC 3339 wall-clock time), TENURE_LEADER_REMAINING_MS
 *   (milliseconds left when it was started), TENURE_ELECTION and TENURE_ID in its environment.
 * - Each renewal moves the term's deadline D (send time of the renewal + renew deadline); the guard
 *   is told at once.
 * - The term ends (renew deadline passed, lock lost): SIGTERM now, and SIGKILL at D + killGrace if the
 *   child still runs. The guard holds both timers itself, so neither waits for this process.
 * - A child that exits on its own while leading is reported through `onExitOnItsOwn`.
 */
export class Supervisor {
  readonly #elector: Elector;
  readonly #options: SupervisorOptions;
  readonly #unsubscribe: () => void;
  #running: Running | undefined;
  #stopping = false;
  #exitedOnItsOwn: ChildExit | undefined;
  readonly #listeners = new Set<(event: SupervisorEvent) => void>();

  constructor(elector: Elector, options: SupervisorOptions) {
    this.#elector = elector;
    this.#options = options;
    this.#unsubscribe = elector.subscribe((event) => this.#onEvent(event));
  }

  /** Calls `listener` on every child start and exit. Returns a function that unsubscribes. */
  subscribe(listener: (event: SupervisorEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(event: SupervisorEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.#options.logger.error("a supervisor listener threw; supervision goes on", { error });
      }
    }
  }

  /**
   * Stops supervising: no new child starts; a running one gets SIGTERM and, if it has not exited
   * within `stopTimeoutMs` (or by the kill time of a term that ends meanwhile), SIGKILL. Resolves with
   * its exit; with none running, the exit of a child that ended on its own (the reason to stop), else
   * `undefined`. The caller releases the lock only after this resolves: the next leader's child
   * cannot start while this one runs.
   */
  async stop(): Promise<ChildExit | undefined> {
    this.#stopping = true;
    const running = this.#running;
    if (running === undefined) {
      this.#unsubscribe();
      return this.#exitedOnItsOwn;
    }
    running.stopByMs = performance.now() + this.#options.stopTimeoutMs;
    this.#options.logger.info(
      `stopping the child (pid ${running.pid ?? "?"}): SIGTERM, SIGKILL if it still runs in ${Math.round(this.#killAtMs(running) - performance.now())} ms`,
    );
    this.#terminate(running);
    const exit = await running.exited;
    this.#unsubscribe();
    return exit;
  }

  #onEvent(event: ElectorEvent): void {
    const running = this.#running;
    switch (event.type) {
      case "started-leading":
        this.#start(event.fencingToken, event.safeUntilMs);
        return;
      case "renewed":
        if (running === undefined || running.termOver || running.fencingToken !== event.fencingToken) return;
        running.safeUntilMs = event.safeUntilMs;
        // While shutting down the term still moves on: the child keeps its full stop timeout.
        if (running.stopRequested) this.#terminate(running);
        else this.#sendDeadline(running);
        return;
      case "stopped-leading":
        if (running === undefined || running.fencingToken !== event.fencingToken) return;
        running.termOver = true;
        this.#options.logger.info(
          `the term ended (${event.reason}): SIGTERM to the child (pid ${running.pid ?? "?"}), SIGKILL if it still runs in ${Math.max(0, Math.round(this.#killAtMs(running) - performance.now()))} ms`,
        );
        this.#terminate(running);
        return;
      default:
        return;
    }
  }

  #start(fencingToken: number, safeUntilMs: number): void {
    if (this.#stopping) return;
    const previous = this.#running;
    if (previous !== undefined) {
      // The previous term's child is still on its way out: it is killed by its own deadline, which
      // has passed or is close. Start this term's child only once it is gone, if still leading.
      void previous.exited.then(() => {
        // The deadline has moved with the renewals since: start from the term as it stands now.
        const now = this.#elector.currentLeader();
        if (this.#elector.fencingToken() === fencingToken && now.self && now.validUntilMs !== null) {
          this.#start(fencingToken, now.validUntilMs);
        }
      });
      return;
    }
    const [program] = this.#options.command;
    if (program === undefined) return;
    const nowMs = performance.now();
    const remainingMs = Math.max(0, Math.floor(safeUntilMs - nowMs));
    const env: NodeJS.ProcessEnv = {
      ...(this.#options.env ?? process.env),
      TENURE_FENCING_TOKEN: String(fencingToken),
      TENURE_LEADER_DEADLINE: new Date(Date.now() + (safeUntilMs - nowMs)).toISOString(),
      TENURE_LEADER_REMAINING_MS: String(remainingMs),
      TENURE_ELECTION: this.#elector.name,
      TENURE_ID: this.#elector.identity,
    };
    const guard = spawn(process.execPath, [guardPath(), ...this.#options.command], {
      detached: true,
      env,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let resolveExit: (exit: ChildExit) => void = () => {};
    const running: Running = {
      guard,
      fencingToken,
      pid: undefined,
      safeUntilMs,
      stopRequested: false,
      termOver: false,
      stopByMs: Number.POSITIVE_INFINITY,
      exited: new Promise((resolve) => {
        resolveExit = resolve;
      }),
    };
    this.#running = running;
    let reported: ChildExit | undefined;
    const finish = (code: number | null, signal: NodeJS.Signals | null, atNs: bigint): void => {
      if (reported !== undefined) return;
      reported = { code, signal, fencingToken, onItsOwn: !running.stopRequested };
      if (this.#running === running) this.#running = undefined;
      const how = signal === null ? `with code ${code}` : `by ${signal}`;
      const log = reported.onItsOwn ? this.#options.logger.warn : this.#options.logger.info;
      log.call(
        this.#options.logger,
        `the child (pid ${running.pid ?? "?"}, fencing token ${fencingToken}) exited ${how}${reported.onItsOwn ? " on its own while leading" : ""}`,
      );
      resolveExit(reported);
      this.#emit({ type: "child-exited", pid: running.pid, atNs, ...reported });
      if (reported.onItsOwn) {
        this.#exitedOnItsOwn = reported;
        this.#options.onExitOnItsOwn?.(reported);
      }
    };
    guard.on("message", (message: GuardMessage) => {
      if (message.type === "started") {
        running.pid = message.pid;
        this.#emit({ type: "child-started", pid: message.pid, fencingToken, atNs: process.hrtime.bigint() });
        this.#options.logger.info(
          `started the child (pid ${message.pid}) with fencing token ${fencingToken}, ${remainingMs} ms left in the term`,
          { command: this.#options.command.join(" ") },
        );
      } else if (message.type === "spawn-failed") {
        this.#options.logger.error(`could not start ${program}: ${message.message}`);
        finish(127, null, process.hrtime.bigint());
      } else if (message.type === "exited") {
        finish(message.code, message.signal, BigInt(message.atNs));
      }
    });
    guard.on("error", (error) => {
      this.#options.logger.error(`the child's guard failed: ${error.message}`);
    });
    guard.once("exit", (code, signal) => {
      if (reported !== undefined) return;
      // The guard died without reporting (killed from outside): its child may be orphaned. Kill its
      // group, as the guard would have.
      if (running.pid !== undefined) {
        try {
          process.kill(-running.pid, "SIGKILL");
        } catch {
          // Gone already.
        }
      }
      this.#options.logger.error(
        `the child's guard ended unexpectedly (${signal ?? `code ${code}`}); its process group was killed`,
      );
      finish(null, "SIGKILL", process.hrtime.bigint());
    });
    this.#sendDeadline(running);
  }

  /**
   * The kill rule: SIGKILL at the term's deadline plus the kill grace, which is before any other
   * replica can take over; on shutdown no later than the stop timeout either.
   */
  #killAtMs(running: Running): number {
    return Math.min(running.stopByMs, running.safeUntilMs + this.#options.killGraceMs);
  }

  /** The term goes on: the guard sends SIGTERM at its deadline unless told a later one. */
  #sendDeadline(running: Running): void {
    this.#send(running, {
      type: "deadline",
      termAtNs: String(toMonotonicNs(running.safeUntilMs)),
      killAtNs: String(toMonotonicNs(this.#killAtMs(running))),
    });
  }

  /** SIGTERM now (once), SIGKILL at the kill time. */
  #terminate(running: Running): void {
    running.stopRequested = true;
    this.#send(running, { type: "terminate", killAtNs: String(toMonotonicNs(this.#killAtMs(running))) });
  }

  #send(running: Running, message: Record<string, unknown>): void {
    // A guard that just exited cannot be told anything; its exit is handled where it is reported.
    if (running.guard.connected) running.guard.send(message, undefined, {}, () => {});
  }
}

type GuardMessage =
  | { readonly type: "started"; readonly pid: number }
  | { readonly type: "spawn-failed"; readonly message: string }
  | {
      readonly type: "exited";
      readonly code: number | null;
      readonly signal: NodeJS.Signals | null;
      readonly atNs: string;
    };
