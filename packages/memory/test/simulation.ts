/**
 * A simulated cluster for the engine's property tests: N electors on one MemoryServer, each on its
 * own drifting clock over one virtual timeline, with random message delays, crashes, releases,
 * stalled event loops, network cuts, deletions of the lock and resignations. Everything is driven by virtual time and a seeded random
 * generator, so a failing case replays exactly from its seed.
 */
import type { ElectionTiming } from "@tenure/core";
import { Elector } from "@tenure/core";
import type { ManualClock } from "@tenure/core/testing";
import { LeadershipLog, VirtualTime } from "@tenure/core/testing";
import type { MemoryStore } from "@tenure/memory";
import { MemoryServer } from "@tenure/memory";

export type ActionKind = "crash" | "release" | "pause" | "partition" | "join" | "delete" | "resign";

/** One disturbance, aimed at the `target`-th live candidate (modulo how many are alive). */
export interface Action {
  readonly atMs: number;
  readonly kind: ActionKind;
  readonly target: number;
  /** For pauses and partitions. */
  readonly durationMs: number;
  /** For partitions: refused connections or silently dropped packets. */
  readonly blackhole: boolean;
}

export interface Scenario {
  readonly timing: ElectionTiming;
  /** Clock rate of each initial candidate (1 = true rate). Newcomers draw theirs from `seed`. */
  readonly rates: readonly number[];
  /** Largest one-way message delay. */
  readonly maxDelayMs: number;
  /** Largest relative clock-rate error newcomers may draw. */
  readonly maxDrift: number;
  /** Seeds message delays, newcomers' clocks and initial clock readings. */
  readonly seed: number;
  readonly actions: readonly Action[];
}

export interface Outcome {
  readonly log: LeadershipLog;
  /** Real time from healing everything to the first leader after it, or null if none came. */
  readonly recoveryMs: number | null;
  /** Real time from killing the settled leader to the next leader, or null if none came. */
  readonly failoverMs: number | null;
  /** The slowest clock in the run, for the bounds. */
  readonly minRate: number;
  /** Highest `leaderTransitions` in the store at the end. */
  readonly finalToken: number;
}

interface Member {
  readonly elector: Elector;
  readonly clock: ManualClock;
  readonly store: MemoryStore;
  alive: boolean;
}

const ELECTION = "simulated";

/** Runs one scenario to the end and reports what happened. */
export async function runScenario(scenario: Scenario): Promise<Outcome> {
  const { timing } = scenario;
  const time = new VirtualTime();
  const server = new MemoryServer();
  const random = mulberry32(scenario.seed);
  const delay = (): number => random() * scenario.maxDelayMs;
  const log = new LeadershipLog();
  const members: Member[] = [];
  let rates = [...scenario.rates];

  const spawn = (rate: number): Member => {
    const clock = time.clock({ rate, startMs: Math.floor(random() * 1_000_000) });
    const store = server.connect({
      clock,
      requestDelayMs: delay,
      responseDelayMs: delay,
      requestTimeoutMs: timing.renewDeadlineMs,
    });
    const elector = new Elector({
      store,
      clock,
      name: ELECTION,
      identity: `candidate-${members.length}`,
      ...timing,
    });
    log.attach(elector, { toCommonMs: (localMs) => clock.realTimeAt(localMs), commonNow: () => time.now() });
    const member = { elector, clock, store, alive: true };
    members.push(member);
    elector.start();
    return member;
  };
  const live = (): Member[] => members.filter((member) => member.alive);
  const leaders = (): Member[] => live().filter((member) => member.elector.isLeader());

  for (const rate of scenario.rates) spawn(rate);

  for (const action of scenario.actions) {
    await time.advanceTo(action.atMs);
    const alive = live();
    const member = alive[action.target % Math.max(1, alive.length)];
    switch (action.kind) {
      case "join": {
        const rate = 1 + (random() * 2 - 1) * scenario.maxDrift;
        rates = [...rates, rate];
        spawn(rate);
        break;
      }
      case "crash":
      case "release":
        if (member === undefined || alive.length <= 1) break;
        member.alive = false;
        void member.elector.stop({ release: action.kind === "release" });
        break;
      case "pause":
        if (member === undefined || member.clock.paused) break;
        member.clock.pause();
        time.schedule(time.now() + action.durationMs, () => member.clock.resume());
        break;
      case "resign":
        // Steps down and stays a candidate (holds off for the action's duration).
        if (member === undefined) break;
        void member.elector.resign({ holdOffMs: action.durationMs }).catch(() => {});
        break;
      case "delete":
        // An operator deletes the lock (`kubectl delete lease`) while someone may hold it.
        server.delete(ELECTION);
        break;
      case "partition":
        if (member === undefined || !member.store.reachable) break;
        member.store.disconnect(action.blackhole ? "blackhole" : "refuse");
        time.schedule(time.now() + action.durationMs, () => member.store.reconnect());
        break;
    }
  }

  // Heal: every clock runs, every client reaches the server, at least two candidates live.
  const lastAction = scenario.actions.at(-1)?.atMs ?? 0;
  await time.advanceTo(lastAction + 3 * timing.leaseDurationMs);
  for (const member of members) {
    if (member.clock.paused) member.clock.resume();
    if (!member.store.reachable) member.store.reconnect();
  }
  while (live().length < 2) {
    const rate = 1 + (random() * 2 - 1) * scenario.maxDrift;
    rates = [...rates, rate];
    spawn(rate);
  }
  const minRate = Math.min(...rates);
  const healedAt = time.now();
  const recoveryLimit = (3 * timing.leaseDurationMs) / minRate;
  const recovered = await time.advanceUntil(() => leaders().length > 0, recoveryLimit);
  const recoveryMs = recovered ? time.now() - healedAt : null;

  // Kill the settled leader and time the failover.
  let failoverMs: number | null = null;
  const leader = leaders()[0];
  if (leader !== undefined) {
    // Let followers see a few renewals first, so the failover starts from a settled state.
    await time.advanceBy(timing.leaseDurationMs);
    const current = leaders()[0];
    if (current !== undefined) {
      current.alive = false;
      const killedAt = time.now();
      void current.elector.stop({ release: false });
      const failoverLimit = (3 * timing.leaseDurationMs) / minRate;
      if (await time.advanceUntil(() => leaders().length > 0, failoverLimit))
        failoverMs = time.now() - killedAt;
    }
  }

  const finalToken = server.get(ELECTION)?.record?.leaderTransitions ?? -1;
  for (const member of live()) void member.elector.stop({ release: false });
  await time.advanceBy(timing.leaseDurationMs);
  return { log, recoveryMs, failoverMs, minRate, finalToken };
}

/** A small, fast, seedable PRNG (public domain algorithm by Tommy Ettinger). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
