/**
 * The faults a campaign injects, one at a time. Each picks its target and parameters from the
 * campaign's seeded generator, applies the fault, holds it, heals it, and reports when it started
 * and when healing completed (the host's monotonic clock), which the checker attributes violations
 * and measures recovery by.
 */
import type { ElectionTiming } from "@tenure/core";
import { clockDriftTolerance } from "@tenure/core";
import type { ViolationKind } from "./checker.ts";
import type { Fleet } from "./fleet.ts";
import { Random } from "./random.ts";
import type { CampaignTarget } from "./targets.ts";
import { monotonicMs } from "./work-log.ts";

export const faultKinds = [
  "kill",
  "term",
  "pause",
  "partition",
  "slow-link",
  "store-pause",
  "store-restart",
  "store-wipe",
  "delete-lock",
  "drift",
  "drift-beyond",
  "member-failover",
] as const;
export type FaultKind = (typeof faultKinds)[number];

export interface FaultContext {
  readonly fleet: Fleet;
  readonly target: CampaignTarget;
  readonly timing: ElectionTiming;
  readonly random: Random;
  readonly election: string;
}

/** What a fault did. */
export interface Applied {
  readonly target: string;
  readonly detail: string;
  readonly startMs: number;
  readonly healMs: number;
}

export interface FaultSpec {
  readonly kind: FaultKind;
  /** One line for `--help` and the report. */
  readonly summary: string;
  /** Whether the target supports it. */
  applies(target: CampaignTarget): boolean;
  /**
   * Violations the documentation predicts for it. A fault with any is a negative control: it runs
   * only when asked for (`--faults all` or by name), and shows that the checker catches them.
   */
  expected(target: CampaignTarget): readonly ViolationKind[];
  /** The store itself was down: recovery after it is held to retry period + lease. */
  readonly storeOutage: boolean;
  run(context: FaultContext): Promise<Applied>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A hold time of 0.3 to 3 leases: many outlast the lease, some are blips. */
function holdMs({ random, timing }: FaultContext): number {
  return Math.round(random.between(0.3, 3) * timing.leaseDurationMs);
}

/** The leader (most of the time, when there is one) or a follower. */
function pickCandidate({ fleet, random }: FaultContext, leaderShare = 0.6): string {
  const leader = fleet.leader();
  const followers = fleet.followers();
  if (leader !== undefined && (followers.length === 0 || random.chance(leaderShare))) return leader;
  if (followers.length > 0) return random.pick(followers);
  return random.pick(fleet.identities);
}

function role(context: FaultContext, identity: string): string {
  return identity === context.fleet.leader() ? `${identity} (leader)` : identity;
}

/** Applies a fault to a candidate's links for the hold time, then heals them. */
async function onLinks(
  context: FaultContext,
  describe: string,
  apply: (identity: string) => Promise<void>,
): Promise<Applied> {
  const identity = pickCandidate(context);
  const target = role(context, identity);
  const hold = holdMs(context);
  const startMs = monotonicMs();
  await apply(identity);
  await sleep(hold);
  for (const proxy of context.fleet.proxies(identity)) await proxy.heal();
  return { target, detail: `${describe} for ${hold} ms`, startMs, healMs: monotonicMs() };
}

/**
 * A clock fault: one candidate's elector clock runs off (the leader slow, or a follower fast), and
 * the leader is then cut off, so that a takeover happens while the drift is in force: the case the
 * drift bound ρ < (L − R)/(L + R) is about. `factor` scales ρ: below 1 within the bound, above it beyond.
 */
async function drift(context: FaultContext, beyond: boolean): Promise<Applied> {
  const { fleet, random, timing } = context;
  const leader = fleet.leader() ?? random.pick(fleet.identities);
  const followers = fleet.followers();
  const slowLeader = followers.length === 0 || random.chance(0.5);
  const who = slowLeader ? leader : random.pick(followers);
  const tolerance = clockDriftTolerance(timing);
  // Beyond: far enough that a takeover surely falls inside the old leader's term.
  const rate = beyond
    ? slowLeader
      ? (0.5 * timing.renewDeadlineMs) / timing.leaseDurationMs
      : (1.8 * timing.leaseDurationMs) / timing.renewDeadlineMs
    : slowLeader
      ? 1 - 0.8 * tolerance
      : 1 + 0.8 * tolerance;
  const startMs = monotonicMs();
  fleet.setClockRate(who, rate);
  await sleep(timing.retryPeriodMs * 2);
  const hold = Math.round(random.between(1.5, 3) * timing.leaseDurationMs);
  const cut = fleet.proxies(leader);
  for (const proxy of cut) await proxy.blackhole();
  await sleep(hold);
  for (const proxy of cut) await proxy.heal();
  fleet.setClockRate(who, 1);
  return {
    target: `${who} (${slowLeader ? "leader, slow" : "follower, fast"})`,
    detail: `clock rate ${rate.toFixed(3)} (bound ρ = ${tolerance.toFixed(3)}), leader ${leader} cut off for ${hold} ms`,
    startMs,
    healMs: monotonicMs(),
  };
}

const none = (): readonly ViolationKind[] => [];

export const faults: Readonly<Record<FaultKind, FaultSpec>> = {
  kill: {
    kind: "kill",
    summary: "SIGKILL a candidate (the leader, mostly), restart it after 0.3-3 leases",
    applies: () => true,
    expected: none,
    storeOutage: false,
    async run(context) {
      const identity = pickCandidate(context);
      const target = role(context, identity);
      const hold = holdMs(context);
      const startMs = monotonicMs();
      await context.fleet.signal(identity, "SIGKILL");
      await sleep(hold);
      context.fleet.start(identity);
      return { target, detail: `down for ${hold} ms`, startMs, healMs: monotonicMs() };
    },
  },
  term: {
    kind: "term",
    summary: "SIGTERM the leader (it releases the lock), restart it after 0.3-3 leases",
    applies: () => true,
    expected: none,
    storeOutage: false,
    async run(context) {
      const identity = pickCandidate(context, 1);
      const target = role(context, identity);
      const hold = holdMs(context);
      const startMs = monotonicMs();
      await context.fleet.signal(identity, "SIGTERM");
      await sleep(hold);
      context.fleet.start(identity);
      return { target, detail: `down for ${hold} ms`, startMs, healMs: monotonicMs() };
    },
  },
  pause: {
    kind: "pause",
    summary: "SIGSTOP a candidate (the leader, mostly) for 0.3-3 leases, then SIGCONT",
    applies: () => true,
    expected: none,
    storeOutage: false,
    async run(context) {
      const identity = pickCandidate(context);
      const target = role(context, identity);
      const hold = holdMs(context);
      const startMs = monotonicMs();
      await context.fleet.signal(identity, "SIGSTOP");
      await sleep(hold);
      await context.fleet.signal(identity, "SIGCONT");
      return { target, detail: `stopped for ${hold} ms`, startMs, healMs: monotonicMs() };
    },
  },
  partition: {
    kind: "partition",
    summary: "cut a candidate off from the store (bytes dropped both ways, connections hang)",
    applies: () => true,
    expected: none,
    storeOutage: false,
    run: (context) =>
      onLinks(context, "blackholed", async (identity) => {
        for (const proxy of context.fleet.proxies(identity)) await proxy.blackhole();
      }),
  },
  "slow-link": {
    kind: "slow-link",
    summary: "delay every byte between a candidate and the store (some calls then time out)",
    applies: () => true,
    expected: none,
    storeOutage: false,
    run(context) {
      // Up to more than a call's time limit (renew deadline / 2): answers arrive late or never.
      const latencyMs = Math.round(context.random.between(0.1, 0.6) * context.timing.renewDeadlineMs);
      return onLinks(context, `${latencyMs} ms latency each way`, async (identity) => {
        for (const proxy of context.fleet.proxies(identity)) await proxy.slow(latencyMs, latencyMs / 5);
      });
    },
  },
  "store-pause": {
    kind: "store-pause",
    summary: "SIGSTOP the store (every member) for 0.3-3 leases",
    applies: () => true,
    expected: none,
    storeOutage: true,
    async run(context) {
      const hold = holdMs(context);
      const startMs = monotonicMs();
      await context.target.pauseStore();
      await sleep(hold);
      await context.target.resumeStore();
      return { target: "store", detail: `stopped for ${hold} ms`, startMs, healMs: monotonicMs() };
    },
  },
  "store-restart": {
    kind: "store-restart",
    summary: "restart the store with its data (every member)",
    applies: () => true,
    expected: none,
    storeOutage: true,
    async run(context) {
      const startMs = monotonicMs();
      await context.target.restartStore();
      return { target: "store", detail: "restarted, data kept", startMs, healMs: monotonicMs() };
    },
  },
  "store-wipe": {
    kind: "store-wipe",
    summary: "restart Redis having lost every key, as without persistence (negative control)",
    applies: (target) => target.wipeAndRestartStore !== undefined,
    // Nothing is left to tell the lock existed: a new leader may start while the old one acts.
    expected: () => ["overlap"],
    storeOutage: true,
    async run(context) {
      const wipe = context.target.wipeAndRestartStore;
      if (wipe === undefined) throw new Error(`${context.target.backend} cannot lose its data`);
      const startMs = monotonicMs();
      await wipe();
      return { target: "store", detail: "restarted without its data", startMs, healMs: monotonicMs() };
    },
  },
  "delete-lock": {
    kind: "delete-lock",
    summary:
      "delete the lock record as an operator would (DEL, etcdctl del, consul kv delete, kubectl delete)",
    applies: () => true,
    expected: none,
    storeOutage: false,
    async run(context) {
      // An operator deletes a lock that is in use: held for a lease at least, and seen by every
      // running candidate. (A deletion before some candidate saw the lock at all — it was just
      // restarted, say — is the case docs/architecture.md bounds instead; not what this models.)
      const settleBy = monotonicMs() + 5 * context.timing.leaseDurationMs;
      while (!context.fleet.settled(context.timing.leaseDurationMs) && monotonicMs() < settleBy) {
        await sleep(context.timing.retryPeriodMs);
      }
      const settled = context.fleet.settled(context.timing.leaseDurationMs);
      const startMs = monotonicMs();
      await context.target.deleteLock(context.election);
      const healMs = monotonicMs();
      const holder = `held by ${context.fleet.leader() ?? "nobody"}`;
      return { target: "lock", detail: settled ? holder : `${holder}, NOT settled`, startMs, healMs };
    },
  },
  drift: {
    kind: "drift",
    summary: "a candidate's clock slow (leader) or fast (follower) within the drift bound, leader cut off",
    applies: () => true,
    expected: none,
    storeOutage: false,
    run: (context) => drift(context, false),
  },
  "drift-beyond": {
    kind: "drift-beyond",
    summary: "the same beyond the drift bound (negative control: two leaders expected)",
    applies: () => true,
    expected: () => ["overlap"],
    storeOutage: false,
    run: (context) => drift(context, true),
  },
  "member-failover": {
    kind: "member-failover",
    summary: "SIGKILL the store cluster's leader member, restart it after 0.3-3 leases",
    applies: (target) => target.cluster !== undefined,
    expected: none,
    storeOutage: false,
    async run(context) {
      const cluster = context.target.cluster;
      if (cluster === undefined) throw new Error(`${context.target.backend} runs no cluster`);
      const member = await cluster.leader();
      const hold = holdMs(context);
      const startMs = monotonicMs();
      await cluster.kill(member);
      await sleep(hold);
      await cluster.restart(member);
      return { target: member, detail: `leader member down for ${hold} ms`, startMs, healMs: monotonicMs() };
    },
  },
};

/** The faults a campaign runs by default on `target`: every one it supports, negative controls aside. */
export function defaultFaults(target: CampaignTarget): FaultKind[] {
  return faultKinds.filter(
    (kind) => faults[kind].applies(target) && faults[kind].expected(target).length === 0,
  );
}

/** Every fault `target` supports, negative controls included. */
export function allFaults(target: CampaignTarget): FaultKind[] {
  return faultKinds.filter((kind) => faults[kind].applies(target));
}

/** One planned fault: its kind, and the random numbers its choices are drawn from. */
export interface PlannedFault {
  readonly kind: FaultKind;
  readonly random: Random;
}

/**
 * The faults of a campaign from its seed: rounds of every enabled kind in a random order (a short run
 * covers each kind, a long one injects them in equal numbers), each fault with a random stream of its
 * own. A fault's draws can depend on the fleet when it runs (who leads, who is up), so sharing one
 * stream would shift every later fault; with a stream each, the same seed gives the same kinds and
 * the same choices whatever happened before.
 */
export function* faultPlan(seed: number, enabled: readonly FaultKind[]): Generator<PlannedFault, never> {
  if (enabled.length === 0) throw new RangeError("no fault kind enabled");
  const order = Random.stream(seed, 0);
  for (let index = 1; ; ) {
    for (const kind of order.shuffle(enabled)) yield { kind, random: Random.stream(seed, index++) };
  }
}
