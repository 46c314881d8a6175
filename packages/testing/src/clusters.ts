// etcd and Consul clusters (three members by default) on loopback for fault tests: find the leader, kill it
// (SIGKILL), restart it on the same data folder and ports, pause (SIGSTOP) and resume members.
// Each cluster is recorded in `<stateDir>/clusters/<name>.json` as soon as its processes are
// spawned, so `npm run servers -- down` (and `stopServers`) can stop it after an interrupted run.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { messageOf, ServerSetupError } from "./errors.ts";
import { type ProcessSpec, type StartContext, spawnProcess, waitForProcess } from "./launch.ts";
import { removeDataDir, type StateLayout, stateLayout } from "./paths.ts";
import { freePorts, loopback } from "./ports.ts";
import { isPaused, isRunning, killProcess, pauseProcess, resumeProcess, stopProcess } from "./process.ts";
import { type ReadinessProbe, waitUntilReady } from "./readiness.ts";
import {
  type ConsulPorts,
  consulAgentNetworkArgs,
  consulLeaderProbe,
  freeConsulPorts,
  installConsul,
} from "./servers/consul.ts";
import { etcdHealthProbe, etcdMemberArgs, installEtcd } from "./servers/etcd.ts";
import { isServerName, type ManagedProcess } from "./state.ts";
import { goBinaries } from "./versions.ts";

/** The servers the harness can run as a cluster. */
export type ClusterKind = "etcd" | "consul";

/** Whether a member's process runs, is paused (SIGSTOP), or is not running (killed or stopped). */
export type ClusterMemberState = "running" | "paused" | "stopped";

/** One member of a cluster as it is now. */
export interface ClusterMember {
  /** `etcd-1`, `consul-2`, …: etcd's `--name`, Consul's `-node`. */
  readonly name: string;
  /** pid of the member's latest process (it changes on restart). */
  readonly pid: number;
  readonly state: ClusterMemberState;
  /** http URL clients use: etcd's client URL, Consul's HTTP API. */
  readonly url: string;
  /** host:port of `url` (the form CONSUL_HTTP_ADDR takes). */
  readonly address: string;
  /** Where the other members reach it: etcd's peer URL; Consul's raft address, as /v1/status/leader names it. */
  readonly peerAddress: string;
  /** Kept across kill and restart; removed by `stop()`. */
  readonly dataDir: string;
  readonly logFile: string;
}

/** Options for {@link Cluster.restart} and {@link Cluster.resume}. */
export interface RejoinOptions {
  /**
   * Wait until the member serves, the cluster has a leader, and the member has applied every
   * entry the leader had committed (default). False: wait only until the member's process
   * answers HTTP, e.g. for the first member back after every member was killed (it cannot get a
   * leader alone); call {@link Cluster.waitForRejoin} for it once the others are back.
   */
  readonly waitForCluster?: boolean;
}

/** A cluster started by {@link startEtcdCluster} or {@link startConsulCluster}. */
export interface Cluster {
  readonly kind: ClusterKind;
  /** Name of the cluster, unique within its state folder (default `etcd-cluster`, `consul-cluster`). */
  readonly name: string;
  /** Version of the server binary. */
  readonly version: string;
  readonly stateDir: string;
  /** Client URLs of every member, in member order (etcd client URLs; Consul HTTP API URLs). */
  readonly endpoints: readonly string[];
  /** Every member as it is now (read afresh on each access). */
  readonly members: readonly ClusterMember[];
  /** The member named `name`; throws, naming the members, if there is none. */
  member(name: string): ClusterMember;
  /**
   * Name of the leader, once one is confirmed: a running member says it leads and a majority of
   * all members (it included) names it. Paused and stopped members are not asked. Waits for one
   * (a kill or pause of the leader takes an election timeout to heal); throws after `timeoutMs`
   * (default 30 s), naming what each member answered.
   */
  leader(options?: { readonly timeoutMs?: number }): Promise<string>;
  /** SIGKILL (a crash: no shutdown, data folder kept); resolves once the process is gone. Throws if it was not running. */
  kill(member: string): Promise<void>;
  /**
   * Starts the member again with the same data folder, ports and arguments (stopping it first,
   * SIGTERM, if it still runs); by default waits until it has rejoined (see {@link RejoinOptions}).
   * Resolves with the member as it is then.
   */
  restart(member: string, options?: RejoinOptions): Promise<ClusterMember>;
  /** SIGSTOP to the member: it keeps its sockets and answers nothing. Resolves once the kernel shows it stopped. */
  pause(member: string): Promise<void>;
  /** SIGCONT to a paused member; by default waits until it has rejoined (see {@link RejoinOptions}). */
  resume(member: string, options?: RejoinOptions): Promise<void>;
  /**
   * Waits until a running member has rejoined, as `restart` does by default: it serves, a leader
   * is confirmed, and it votes and has applied everything the leader had committed. For members
   * restarted with `waitForCluster: false` once the cluster has a majority again.
   */
  waitForRejoin(member: string): Promise<void>;
  /** Stops every member, removes the data folders and the cluster's record. Logs stay. */
  stop(): Promise<void>;
}

/** Options for {@link startEtcdCluster} and {@link startConsulCluster}. */
export interface StartClusterOptions {
  /** State folder (servers.json's, by default `<repo>/.tenure`); the cluster is recorded under `clusters/`. */
  readonly stateDir?: string;
  /** Default `etcd-cluster` / `consul-cluster`. A cluster of this name left in the state folder is stopped first. */
  readonly name?: string;
  /** Number of members (default 3). */
  readonly size?: number;
  /** Progress messages (builds, starts). Default: none. */
  readonly log?: (message: string) => void;
}

/** Options for {@link startEtcdCluster}. */
export interface StartEtcdClusterOptions extends StartClusterOptions {
  /**
   * fsync every write (default false: `--unsafe-no-fsync`). A killed process loses nothing either
   * way (its writes are in the kernel's page cache); only a machine crash would.
   */
  readonly durable?: boolean;
}

/** Whom a member follows, in the terms the leader search needs. */
interface LeaderView {
  /** How leader answers name this member: etcd's member ID, Consul's raft address. */
  readonly self: string;
  /** The leader this member follows (same form as `self`), or null while it knows none. */
  readonly leader: string | null;
}

/** How far a member's replica is. */
interface Progress {
  /** Raft index this member has applied to its state (reads through it see everything up to it). */
  readonly appliedIndex: bigint;
  /** Raft index this member knows committed. */
  readonly commitIndex: bigint;
  /** Whether it votes (not an etcd learner; a Voter in Consul's raft configuration). */
  readonly voter: boolean;
}

/** How the harness asks one kind of server about its raft state. */
interface RaftProbe {
  leaderView(member: MemberRecord): Promise<LeaderView>;
  progress(member: MemberRecord): Promise<Progress>;
}

/** A member as the record keeps it: where it is and how to start it again. */
interface MemberRecord {
  readonly name: string;
  readonly url: string;
  readonly address: string;
  readonly peerAddress: string;
  readonly dataDir: string;
  /** The latest process; `probe` is the "serves, with a leader" check. */
  readonly process: ManagedProcess;
  /** Passes as soon as the process answers HTTP at all (no leader needed). */
  readonly upProbe: ReadinessProbe;
}

/** Content of `clusters/<name>.json`. */
interface ClusterRecord {
  readonly schema: 1;
  readonly kind: ClusterKind;
  readonly name: string;
  readonly version: string;
  /** `data/<name>`: holds every member's data folder. */
  readonly dataDir: string;
  readonly members: readonly MemberRecord[];
}

const defaultLeaderTimeoutMs = 30_000;
const pollIntervalMs = 100;
const requestTimeoutMs = 1_000;

function recordFile(layout: StateLayout, name: string): string {
  return join(layout.clustersDir, `${name}.json`);
}

function loadRecord(layout: StateLayout, name: string): ClusterRecord | undefined {
  const file = recordFile(layout, name);
  if (!existsSync(file)) return undefined;
  const parsed = JSON.parse(readFileSync(file, "utf8")) as ClusterRecord;
  if (parsed.schema !== 1) throw new Error(`${file} is not a cluster record this version understands`);
  return parsed;
}

function saveRecord(layout: StateLayout, record: ClusterRecord): void {
  mkdirSync(layout.clustersDir, { recursive: true });
  const file = recordFile(layout, record.name);
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(temporary, file);
}

function memberState(member: MemberRecord): ClusterMemberState {
  const { pid, binary } = member.process;
  if (!isRunning(pid, binary)) return "stopped";
  return isPaused(pid, binary) ? "paused" : "running";
}

function memberView(member: MemberRecord): ClusterMember {
  return {
    name: member.name,
    pid: member.process.pid,
    state: memberState(member),
    url: member.url,
    address: member.address,
    peerAddress: member.peerAddress,
    dataDir: member.dataDir,
    logFile: member.process.logFile,
  };
}

async function fetchJson(url: string, init: RequestInit = {}): Promise<unknown> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(requestTimeoutMs) });
  const body = await response.text();
  if (!response.ok) throw new Error(`${init.method ?? "GET"} ${url} answered ${response.status}: ${body}`);
  return JSON.parse(body);
}

/** etcd: the maintenance Status RPC through the gRPC gateway (64-bit numbers come as strings). */
async function etcdStatus(member: MemberRecord): Promise<LeaderView & Progress> {
  const status = (await fetchJson(`${member.url}/v3/maintenance/status`, { method: "POST", body: "{}" })) as {
    header?: { member_id?: string };
    leader?: string;
    raftIndex?: string;
    raftAppliedIndex?: string;
    isLearner?: boolean;
  };
  const self = status.header?.member_id;
  if (self === undefined) throw new Error(`${member.url}/v3/maintenance/status named no member`);
  const leader = status.leader ?? "0";
  return {
    self,
    leader: leader === "0" ? null : leader,
    appliedIndex: BigInt(status.raftAppliedIndex ?? "0"),
    commitIndex: BigInt(status.raftIndex ?? "0"),
    voter: status.isLearner !== true,
  };
}

const etcdRaft: RaftProbe = { leaderView: etcdStatus, progress: etcdStatus };

/**
 * Consul: /v1/status/leader names the leader by raft address (read locally, without a round
 * through raft); /v1/agent/self has raft's indexes and configuration. Raft hands committed entries
 * to Consul's state store right after it counts them applied, so the applied index counts only
 * while that queue (`fsm_pending`) is empty.
 */
const consulRaft: RaftProbe = {
  async leaderView(member) {
    const leader = (await fetchJson(`${member.url}/v1/status/leader`)) as string;
    return { self: member.peerAddress, leader: leader === "" ? null : leader };
  },
  async progress(member) {
    const self = (await fetchJson(`${member.url}/v1/agent/self`)) as {
      Stats?: { raft?: Record<string, string> };
    };
    const raft = self.Stats?.raft ?? {};
    // e.g. "[{Suffrage:Voter ID:15812116-… Address:127.0.0.1:53021} …]"
    const servers = [
      ...(raft.latest_configuration ?? "").matchAll(/Suffrage:(\w+) ID:\S+ Address:([^\s}]+)/g),
    ];
    return {
      appliedIndex: raft.fsm_pending === "0" ? BigInt(raft.applied_index ?? "0") : 0n,
      commitIndex: BigInt(raft.commit_index ?? "0"),
      voter: servers.some(([, suffrage, address]) => suffrage === "Voter" && address === member.peerAddress),
    };
  },
};

const raftProbes: Record<ClusterKind, RaftProbe> = { etcd: etcdRaft, consul: consulRaft };

/** Polls `check` until it yields a value; throws a ServerSetupError with its last reason after `timeoutMs`. */
async function pollUntil<T>(
  cluster: string,
  step: string,
  timeoutMs: number,
  check: () => Promise<{ readonly value: T } | { readonly reason: string }>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const outcome = await check();
    if ("value" in outcome) return outcome.value;
    if (Date.now() >= deadline) {
      throw new ServerSetupError(
        cluster,
        step,
        `not within ${Math.round(timeoutMs / 1000)} s (last: ${outcome.reason})`,
      );
    }
    await sleep(pollIntervalMs);
  }
}

type LeaderOutcome =
  | { readonly value: { member: MemberRecord; view: LeaderView } }
  | { readonly reason: string };

/** Asks every running member once; a leader counts when it says so and a majority of all members agrees. */
async function observeLeader(record: ClusterRecord): Promise<LeaderOutcome> {
  const quorum = Math.floor(record.members.length / 2) + 1;
  const answers = await Promise.all(
    record.members.map(async (member) => {
      const state = memberState(member);
      if (state !== "running") return { member, answer: state };
      return { member, answer: await raftProbes[record.kind].leaderView(member).catch(messageOf) };
    }),
  );
  const views = answers.flatMap(({ member, answer }) =>
    typeof answer === "string" ? [] : [{ member, view: answer }],
  );
  for (const candidate of views) {
    if (candidate.view.leader !== candidate.view.self) continue;
    const supporters = views.filter(({ view }) => view.leader === candidate.view.self).length;
    if (supporters >= quorum) return { value: candidate };
  }
  const names = new Map(views.map(({ member, view }) => [view.self, member.name]));
  const reason = answers
    .map(({ member, answer }) => {
      if (typeof answer === "string") return `${member.name}: ${answer}`;
      if (answer.leader === null) return `${member.name}: no leader`;
      return `${member.name}: leader ${names.get(answer.leader) ?? answer.leader}`;
    })
    .join("; ");
  return { reason };
}

class RunningCluster implements Cluster {
  readonly kind: ClusterKind;
  readonly name: string;
  readonly version: string;
  readonly stateDir: string;
  readonly endpoints: readonly string[];
  readonly #layout: StateLayout;

  constructor(layout: StateLayout, record: ClusterRecord) {
    this.#layout = layout;
    this.kind = record.kind;
    this.name = record.name;
    this.version = record.version;
    this.stateDir = layout.stateDir;
    this.endpoints = record.members.map((member) => member.url);
  }

  /** The record as the state folder has it now (another handle may have restarted a member). */
  #record(): ClusterRecord {
    const record = loadRecord(this.#layout, this.name);
    if (record === undefined) throw new Error(`cluster ${this.name} under ${this.stateDir} was stopped`);
    return record;
  }

  #memberRecord(record: ClusterRecord, name: string): MemberRecord {
    const member = record.members.find((candidate) => candidate.name === name);
    if (member === undefined) {
      const known = record.members.map((candidate) => candidate.name).join(", ");
      throw new Error(`cluster ${this.name} has no member "${name}" (members: ${known})`);
    }
    return member;
  }

  get members(): readonly ClusterMember[] {
    return this.#record().members.map(memberView);
  }

  member(name: string): ClusterMember {
    return memberView(this.#memberRecord(this.#record(), name));
  }

  async leader(options: { readonly timeoutMs?: number } = {}): Promise<string> {
    const found = await waitForLeader(this.name, () => this.#record(), options.timeoutMs);
    return found.member.name;
  }

  async kill(name: string): Promise<void> {
    const { process: managed } = this.#memberRecord(this.#record(), name);
    if (!isRunning(managed.pid, managed.binary))
      throw new Error(`${managed.label} is not running: cannot kill it`);
    if (!(await killProcess(managed.pid, managed.binary)))
      throw new Error(`${managed.label} (pid ${managed.pid}) is still there 5 s after SIGKILL`);
  }

  async restart(name: string, options: RejoinOptions = {}): Promise<ClusterMember> {
    const record = this.#record();
    const member = this.#memberRecord(record, name);
    const { pid: oldPid, ...spec } = member.process;
    if (!(await stopProcess(oldPid, spec.binary)))
      throw new Error(`${spec.label} (pid ${oldPid}) would not stop before its restart`);
    const started = await spawnProcess(this.name, spec);
    // Recorded before the wait, so an interrupted wait still leaves the new pid stoppable.
    const restarted = { ...member, process: started };
    saveRecord(this.#layout, {
      ...record,
      members: record.members.map((candidate) => (candidate.name === name ? restarted : candidate)),
    });
    await this.#waitUntilBack(restarted, options);
    return memberView(restarted);
  }

  async pause(name: string): Promise<void> {
    const { process: managed } = this.#memberRecord(this.#record(), name);
    await pauseProcess(managed.pid, managed.binary, managed.label);
  }

  async resume(name: string, options: RejoinOptions = {}): Promise<void> {
    const member = this.#memberRecord(this.#record(), name);
    resumeProcess(member.process.pid, member.process.binary, member.process.label);
    await this.#waitUntilBack(member, options);
  }

  async waitForRejoin(name: string): Promise<void> {
    await this.#waitUntilBack(this.#memberRecord(this.#record(), name), {});
  }

  /** Waits until the member answers, then (by default) until it serves and has caught up with the leader. */
  async #waitUntilBack(member: MemberRecord, options: RejoinOptions): Promise<void> {
    const managed = member.process;
    const target = {
      server: this.name,
      pid: managed.pid,
      binary: managed.binary,
      logFile: managed.logFile,
      timeoutMs: managed.readyTimeoutMs,
    };
    // Not stopped if it does not get there: the failure is for the fault test to see (stop() ends it).
    if (options.waitForCluster === false) {
      await waitUntilReady({ ...target, probe: member.upProbe });
      return;
    }
    await waitUntilReady({ ...target, probe: managed.probe });
    const raft = raftProbes[this.kind];
    const leader = await waitForLeader(this.name, () => this.#record());
    // The leader's commit index now: the member has caught up once it has applied at least that.
    const committed = (await raft.progress(leader.member)).commitIndex;
    const step = `wait for ${member.name} to rejoin (leader ${leader.member.name}, commit index ${committed})`;
    await pollUntil(this.name, step, 30_000, async () => {
      try {
        const [view, progress] = await Promise.all([raft.leaderView(member), raft.progress(member)]);
        if (view.leader === null) return { reason: `${member.name} knows no leader` };
        if (!progress.voter) return { reason: `${member.name} is not a voter` };
        if (progress.appliedIndex < committed)
          return { reason: `${member.name} applied ${progress.appliedIndex} of ${committed}` };
        return { value: true };
      } catch (error) {
        return { reason: messageOf(error) };
      }
    });
  }

  async stop(): Promise<void> {
    await stopCluster(this.#layout, this.name);
  }
}

/** Polls {@link observeLeader} until a leader is confirmed; throws after `timeoutMs`. */
function waitForLeader(
  cluster: string,
  record: () => ClusterRecord,
  timeoutMs = defaultLeaderTimeoutMs,
): Promise<{ member: MemberRecord; view: LeaderView }> {
  return pollUntil(cluster, "wait for a leader", timeoutMs, () => observeLeader(record()));
}

/** Stops one cluster recorded in the state folder; resolves false when there is none. */
async function stopCluster(layout: StateLayout, name: string): Promise<boolean> {
  const record = loadRecord(layout, name);
  if (record === undefined) return false;
  // SIGKILL, not SIGTERM: the data is removed next, and an etcd leader told to stop first tries
  // to hand over its leadership to members that are stopping too (seconds wasted).
  const stuck = await Promise.all(
    record.members.map(async ({ process: managed }) =>
      (await killProcess(managed.pid, managed.binary)) ? [] : [`${managed.label} (pid ${managed.pid})`],
    ),
  );
  if (stuck.flat().length > 0) throw new Error(`could not stop: ${stuck.flat().join(", ")}`);
  removeDataDir(layout, record.dataDir);
  rmSync(recordFile(layout, name), { force: true });
  for (const folder of [layout.clustersDir, layout.dataDir]) {
    try {
      if (readdirSync(folder).length === 0) rmSync(folder, { recursive: true });
    } catch {
      // no such folder
    }
  }
  return true;
}

/** Names of the clusters recorded in a state folder. */
export function clusterNames(stateDir?: string): string[] {
  const layout = stateLayout(stateDir);
  try {
    return readdirSync(layout.clustersDir)
      .filter((file) => file.endsWith(".json"))
      .map((file) => file.slice(0, -".json".length))
      .sort();
  } catch {
    return [];
  }
}

/**
 * Stops every cluster recorded in the state folder (also after the process that started them
 * was interrupted) and removes their data. Resolves with their names.
 */
export async function stopClusters(options: { readonly stateDir?: string } = {}): Promise<string[]> {
  const layout = stateLayout(options.stateDir);
  const names = clusterNames(layout.stateDir);
  for (const name of names) await stopCluster(layout, name);
  return names;
}

/** A handle on a cluster started earlier, maybe by another process. Throws if it is not recorded. */
export function openCluster(name: string, options: { readonly stateDir?: string } = {}): Cluster {
  const layout = stateLayout(options.stateDir);
  const record = loadRecord(layout, name);
  if (record === undefined) throw new Error(`no cluster named ${name} under ${layout.stateDir}`);
  return new RunningCluster(layout, record);
}

/** What each kind contributes to a member: its process and its addresses. */
interface PlannedMember {
  readonly name: string;
  readonly url: string;
  readonly address: string;
  readonly peerAddress: string;
  readonly dataDir: string;
  readonly spec: ProcessSpec;
  readonly upProbe: ReadinessProbe;
}

/** Everything a kind needs to plan its members. */
interface ClusterPlan {
  readonly clusterName: string;
  readonly size: number;
  readonly binary: string;
  readonly dataDir: string;
  readonly logDir: string;
}

/** Starts the planned members together (a cluster needs a majority before any member is ready). */
async function startCluster(
  kind: ClusterKind,
  options: StartClusterOptions,
  install: (context: StartContext) => Promise<string>,
  plan: (cluster: ClusterPlan) => Promise<PlannedMember[]>,
): Promise<Cluster> {
  const layout = stateLayout(options.stateDir);
  const name = options.name ?? `${kind}-cluster`;
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name) || isServerName(name))
    throw new Error(
      `cluster name "${name}" must be lower-case letters, digits and dashes, and not a server's name`,
    );
  const size = options.size ?? 3;
  if (!Number.isInteger(size) || size < 1 || size > 7) throw new Error(`cluster size ${size} is not 1 to 7`);
  const log = options.log ?? (() => {});
  await stopCluster(layout, name);

  const binary = await install({ layout, durable: false, log });
  const dataDir = join(layout.dataDir, name);
  const logDir = join(layout.logDir, name);
  mkdirSync(logDir, { recursive: true });
  const planned = await plan({ clusterName: name, size, binary, dataDir, logDir });
  for (const member of planned) mkdirSync(member.dataDir, { recursive: true, mode: 0o700 });

  log(`${name}: starting ${size} ${kind} members`);
  const spawned = await Promise.allSettled(planned.map((member) => spawnProcess(name, member.spec)));
  const members: MemberRecord[] = planned.flatMap((member, index) => {
    const result = spawned[index];
    if (result?.status !== "fulfilled") return [];
    const { spec: _spec, upProbe, ...where } = member;
    return [{ ...where, process: result.value, upProbe }];
  });
  const record: ClusterRecord = {
    schema: 1,
    kind,
    name,
    version: goBinaries[kind].version,
    dataDir,
    members,
  };
  saveRecord(layout, record);
  try {
    const failure = spawned.find((result) => result.status === "rejected");
    if (failure !== undefined) throw failure.reason;
    const waits = await Promise.allSettled(members.map((member) => waitForProcess(name, member.process)));
    const notReady = waits.find((result) => result.status === "rejected");
    if (notReady !== undefined) throw notReady.reason;
    const leader = await waitForLeader(name, () => record);
    log(`${name}: ready (leader ${leader.member.name})`);
  } catch (error) {
    await stopCluster(layout, name);
    throw error;
  }
  return new RunningCluster(layout, record);
}

/**
 * Starts a cluster of etcd members (default three: `etcd-1`…`etcd-3`) on free 127.0.0.1 client and
 * peer ports, each with its own data folder `data/<cluster>/<member>` and log
 * `logs/<cluster>/<member>.log`, built like the harness's single etcd. Resolves once every member
 * is healthy and a leader is confirmed.
 */
export function startEtcdCluster(options: StartEtcdClusterOptions = {}): Promise<Cluster> {
  return startCluster(
    "etcd",
    options,
    (context) => installEtcd(context),
    async (cluster) => {
      const ports = await freePorts(cluster.size * 2);
      const members = Array.from({ length: cluster.size }, (_, index) => {
        const name = `etcd-${index + 1}`;
        const clientUrl = `http://${loopback}:${ports[index * 2]}`;
        const peerUrl = `http://${loopback}:${ports[index * 2 + 1]}`;
        return { name, clientUrl, peerUrl, dataDir: join(cluster.dataDir, name) };
      });
      const initialCluster = members.map((member) => `${member.name}=${member.peerUrl}`).join(",");
      // Fresh per start: members of an earlier cluster on reused ports can never join this one.
      const initialClusterToken = `${cluster.clusterName}-${randomBytes(4).toString("hex")}`;
      return members.map((member) => ({
        name: member.name,
        url: member.clientUrl,
        address: new URL(member.clientUrl).host,
        peerAddress: member.peerUrl,
        dataDir: member.dataDir,
        // The peer listener: etcd serves clients only once it has published itself through raft,
        // which a member without a quorum cannot do.
        upProbe: { kind: "http", url: `${member.peerUrl}/version`, bodyPattern: '"etcdserver"' },
        spec: {
          label: `${cluster.clusterName} ${member.name}`,
          binary: cluster.binary,
          args: etcdMemberArgs({
            name: member.name,
            dataDir: member.dataDir,
            clientUrl: member.clientUrl,
            peerUrl: member.peerUrl,
            initialCluster,
            initialClusterToken,
            unsafeNoFsync: options.durable !== true,
          }),
          logFile: join(cluster.logDir, `${member.name}.log`),
          probe: etcdHealthProbe(member.clientUrl),
          readyTimeoutMs: 60_000,
        },
      }));
    },
  );
}

/**
 * Starts a cluster of Consul servers (default three: `consul-1`…`consul-3`), each
 * `consul agent -server -bootstrap-expect=<size>` with a real data folder (`data/<cluster>/<member>`,
 * not `-dev`), all on 127.0.0.1 with distinct ports (each advertises its server port in its Serf
 * tags), joined with `-retry-join`, and raft timing at `raft_multiplier = 1` (elections within
 * seconds). Resolves once every member sees a leader and a leader is confirmed.
 */
export function startConsulCluster(options: StartClusterOptions = {}): Promise<Cluster> {
  return startCluster(
    "consul",
    options,
    (context) => installConsul(context),
    async (cluster) => {
      const ports: ConsulPorts[] = [];
      for (let index = 0; index < cluster.size; index += 1) ports.push(await freeConsulPorts());
      return ports.map((own, index) => {
        const name = `consul-${index + 1}`;
        const address = `${loopback}:${own.http}`;
        const url = `http://${address}`;
        const dataDir = join(cluster.dataDir, name);
        const joins = ports
          .filter((other) => other !== own)
          .map((other) => `-retry-join=${loopback}:${other.serfLan}`);
        return {
          name,
          url,
          address,
          peerAddress: `${loopback}:${own.server}`,
          dataDir,
          upProbe: { kind: "http", url: `${url}/v1/agent/self`, bodyPattern: '"Config"' },
          spec: {
            label: `${cluster.clusterName} ${name}`,
            binary: cluster.binary,
            args: [
              "agent",
              "-server",
              `-bootstrap-expect=${cluster.size}`,
              `-node=${name}`,
              `-data-dir=${dataDir}`,
              ...consulAgentNetworkArgs(own),
              ...joins,
              // The default 30 s would leave members that tried to join before the others listened waiting.
              "-retry-interval=1s",
              "-hcl=performance { raft_multiplier = 1 }",
              // Membership stays fixed, as in etcd: a killed server stays a voter until it is back.
              // (By default autopilot removes a failed server, and a restarted one votes again only
              // after server_stabilization_time, 10 s; pausing another member then loses quorum.)
              "-hcl=autopilot { cleanup_dead_servers = false }",
              "-log-level=info",
            ],
            logFile: join(cluster.logDir, `${name}.log`),
            probe: consulLeaderProbe(url),
            readyTimeoutMs: 60_000,
          },
        };
      });
    },
  );
}
