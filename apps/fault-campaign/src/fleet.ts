/**
 * The campaign's candidates: separate `node` processes, each reaching the store through proxies of
 * its own (so a partition or a slow link hits exactly one), each appending to its own work log.
 * The fleet reads the logs as they grow to know who leads now, which the faults aim at.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ElectionTiming } from "@tenure/core";
import { ToxiproxyClient, type ToxiproxyProxy } from "@tenure/testing";
import { CANDIDATE_ENV, type CandidateConfig } from "./candidate-config.ts";
import type { CampaignTarget } from "./targets.ts";
import { type LogLine, monotonicMs, nsToMs } from "./work-log.ts";

const CANDIDATE_PROGRAM = fileURLToPath(new URL("./candidate.ts", import.meta.url));

interface Member {
  readonly identity: string;
  readonly index: number;
  readonly logFile: string;
  readonly proxies: readonly ToxiproxyProxy[];
  incarnation: number;
  child: ChildProcess | undefined;
  paused: boolean;
  clockRate: number;
  /** Bytes of the log already read. */
  offset: number;
  /** Leading per the log: its last term line had no end line after it. */
  leading: boolean;
  /** When its current term began (host monotonic ms). */
  leadingSinceMs: number;
  lastWorkMs: number;
  /** Whom the running process names as leader (its last `leader` line; `""`: nobody). */
  seesLeader: string;
  /** stderr of the current process, kept for the report when it dies unexpectedly. */
  stderr: string;
}

export interface FleetOptions {
  readonly target: CampaignTarget;
  readonly election: string;
  readonly timing: ElectionTiming;
  readonly logDir: string;
  readonly workIntervalMs: number;
  readonly log: (message: string) => void;
}

export class Fleet {
  readonly #options: FleetOptions;
  readonly #members = new Map<string, Member>();
  readonly #toxiproxy: ToxiproxyClient;

  constructor(options: FleetOptions) {
    this.#options = options;
    this.#toxiproxy = new ToxiproxyClient(options.target.toxiproxyUrl);
  }

  /** Identities in start order. */
  get identities(): string[] {
    return [...this.#members.keys()];
  }

  /** Adds candidate `identity` with its proxies and starts its first process. */
  async add(identity: string): Promise<void> {
    const index = this.#members.size;
    const upstreams = this.#options.target.upstreamsFor(index);
    const proxies: ToxiproxyProxy[] = [];
    for (const [number, upstream] of upstreams.entries()) {
      proxies.push(
        await this.#toxiproxy.createProxy(`${this.#options.election}-${identity}-${number}`, upstream),
      );
    }
    const member: Member = {
      identity,
      index,
      logFile: join(this.#options.logDir, `${identity}.jsonl`),
      proxies,
      incarnation: 0,
      child: undefined,
      paused: false,
      clockRate: 1,
      offset: 0,
      leading: false,
      leadingSinceMs: 0,
      lastWorkMs: 0,
      seesLeader: "",
      stderr: "",
    };
    this.#members.set(identity, member);
    this.start(identity);
  }

  /** Starts a new process (incarnation) of `identity`, which must not be running. */
  start(identity: string): void {
    const member = this.#member(identity);
    if (member.child !== undefined) throw new Error(`${identity} is already running`);
    member.incarnation++;
    member.paused = false;
    member.seesLeader = "";
    member.stderr = "";
    const config: CandidateConfig = {
      backend: this.#options.target.candidateBackend(member.proxies.map((proxy) => proxy.listen)),
      election: this.#options.election,
      identity,
      incarnation: member.incarnation,
      timing: this.#options.timing,
      clockRate: member.clockRate,
      workIntervalMs: this.#options.workIntervalMs,
      logFile: member.logFile,
      maxLifetimeMs: 6 * 60 * 60_000,
    };
    const child = spawn(process.execPath, [CANDIDATE_PROGRAM], {
      env: { ...process.env, [CANDIDATE_ENV]: JSON.stringify(config) },
      stdio: ["pipe", "ignore", "pipe"],
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      member.stderr = (member.stderr + chunk.toString()).slice(-4000);
    });
    child.stdin?.on("error", () => {});
    child.on("error", (error) => {
      // The program could not start (its node binary gone during a reinstall, say): a crash.
      this.#options.log(`${identity}#${config.incarnation} could not start: ${error.message}`);
    });
    child.on("exit", (code, signal) => {
      if (member.child !== child) return;
      member.child = undefined;
      member.leading = false;
      if (signal === null && code !== 0) {
        this.#options.log(`${identity}#${config.incarnation} exited with ${code}: ${member.stderr.trim()}`);
      }
    });
    member.child = child;
  }

  /** Sends `signal` to the process of `identity`; SIGKILL and SIGTERM wait until it has exited. */
  async signal(identity: string, signal: NodeJS.Signals): Promise<void> {
    const member = this.#member(identity);
    const child = member.child;
    if (child === undefined) return;
    if (signal === "SIGSTOP") member.paused = true;
    if (signal === "SIGCONT") member.paused = false;
    if (signal !== "SIGKILL" && signal !== "SIGTERM") {
      child.kill(signal);
      return;
    }
    if (member.paused) child.kill("SIGCONT");
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(signal);
    // A candidate releasing on SIGTERM needs a round trip or two; a hung one is killed.
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
    member.child = undefined;
    member.paused = false;
    member.leading = false;
  }

  /** Changes the elector clock rate of `identity`'s running process (and of later incarnations). */
  setClockRate(identity: string, rate: number): void {
    const member = this.#member(identity);
    member.clockRate = rate;
    member.child?.stdin?.write(`${JSON.stringify({ clockRate: rate })}\n`);
  }

  /** The proxies between `identity` and the store. */
  proxies(identity: string): readonly ToxiproxyProxy[] {
    return this.#member(identity).proxies;
  }

  /** Reads what the logs added and returns who leads now (per the logs), if anyone. */
  leader(): string | undefined {
    this.#readLogs();
    let leader: Member | undefined;
    for (const member of this.#members.values()) {
      if (
        member.leading &&
        member.child !== undefined &&
        (leader === undefined || member.lastWorkMs > leader.lastWorkMs)
      )
        leader = member;
    }
    return leader?.identity;
  }

  /** True when the leader has led for `minTermMs` and every running follower names it as leader. */
  settled(minTermMs: number): boolean {
    const leader = this.leader();
    if (leader === undefined || monotonicMs() - this.#member(leader).leadingSinceMs < minTermMs) return false;
    return this.followers().every((identity) => this.#member(identity).seesLeader === leader);
  }

  /** Running, unpaused candidates other than the leader. */
  followers(): string[] {
    const leader = this.leader();
    return [...this.#members.values()]
      .filter((member) => member.identity !== leader && member.child !== undefined && !member.paused)
      .map((member) => member.identity);
  }

  /** Resolves with the time of the first work step at or after `afterMs`, or null after `limitMs`. */
  async workAfter(afterMs: number, limitMs: number): Promise<number | null> {
    const deadline = monotonicMs() + limitMs;
    for (;;) {
      this.#readLogs();
      const first = [...this.#members.values()]
        .map((member) => member.lastWorkMs)
        .filter((at) => at >= afterMs)
        .sort((a, b) => a - b)[0];
      if (first !== undefined) return first;
      if (monotonicMs() >= deadline) return null;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Stops every process (SIGKILL: the campaign is over) and deletes the proxies. */
  async close(): Promise<void> {
    for (const member of this.#members.values()) await this.signal(member.identity, "SIGKILL");
    for (const member of this.#members.values()) {
      for (const proxy of member.proxies) await proxy.delete().catch(() => {});
    }
  }

  /** Every log file, for the checker. */
  logFiles(): string[] {
    return [...this.#members.values()].map((member) => member.logFile);
  }

  #member(identity: string): Member {
    const member = this.#members.get(identity);
    if (member === undefined) throw new Error(`no candidate ${identity}`);
    return member;
  }

  #readLogs(): void {
    for (const member of this.#members.values()) {
      let size: number;
      try {
        size = statSync(member.logFile).size;
      } catch {
        continue;
      }
      if (size <= member.offset) continue;
      const buffer = Buffer.alloc(size - member.offset);
      const fd = openSync(member.logFile, "r");
      try {
        readSync(fd, buffer, 0, buffer.length, member.offset);
      } finally {
        closeSync(fd);
      }
      const text = buffer.toString();
      const complete = text.lastIndexOf("\n") + 1;
      member.offset += Buffer.byteLength(text.slice(0, complete));
      for (const raw of text.slice(0, complete).split("\n")) {
        if (raw === "") continue;
        const line = JSON.parse(raw) as LogLine;
        if (line.event === "work") member.lastWorkMs = Math.max(member.lastWorkMs, nsToMs(line.t));
        // Only the running process's lines say whether it leads now.
        if (line.incarnation !== member.incarnation) continue;
        if (line.event === "term") {
          member.leading = true;
          member.leadingSinceMs = nsToMs(line.t);
        } else if (line.event === "end" || line.event === "start") member.leading = false;
        if (line.event === "leader") member.seesLeader = line.leader;
      }
    }
  }
}
