/** Failover trials on one pool of candidates: kill the leader, time the next started-leading. */
import type { CandidatePool, PoolEvent } from "./pool.js";
import { nsToMs } from "./stats.js";
import type { Scenario, Timing } from "./types.js";

export const CANDIDATES = 3;

/** One trial's failover split into phases (ms); see FailoverPhases. */
export interface TrialPhases {
  readonly detectionMs: number;
  readonly compareAndSwapMs: number;
  readonly notificationMs: number;
}

export interface TrialRun {
  readonly samplesMs: number[];
  /** Phases of the trials whose winner reported its write's send time (Tenure). */
  readonly phases: TrialPhases[];
  readonly failures: number;
  readonly notes: string[];
  /** Two leaders at once (graceful, handover: the next started before the old one stopped). */
  readonly overlaps: number;
  /** Handover: trials in which the chosen successor was the next leader. */
  readonly successorWins: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Who leads now: the latest started-leading of a live candidate not followed by its stopped-leading. */
export function currentLeader(log: readonly PoolEvent[], alive: readonly string[]): PoolEvent | undefined {
  const ended = new Set<string>();
  for (let index = log.length - 1; index >= 0; index--) {
    const event = log[index];
    if (event === undefined) continue;
    if (event.event === "stopped-leading" || event.event === "exit") ended.add(event.identity);
    if (event.event === "started-leading" && alive.includes(event.identity) && !ended.has(event.identity))
      return event;
  }
  return undefined;
}

/** Pauses and resumes the store of a backend (the harness's pauseServer / resumeServer). */
export interface StoreSwitch {
  pause(): Promise<void>;
  /** Resumes and waits until the store answers again. */
  resume(): Promise<void>;
}

export class Trials {
  #next = 0;
  /** Graceful and handover trials where the next leader started before the old one reported stopping. */
  overlaps = 0;
  /** Handover trials in which the chosen successor was the next leader. */
  successorWins = 0;

  constructor(
    readonly pool: CandidatePool,
    readonly prefix: string,
    readonly timing: Timing,
    readonly store?: StoreSwitch,
  ) {}

  /** Starts candidates until there are three. */
  async fill(): Promise<void> {
    for (let attempt = 0; this.pool.alive().length < CANDIDATES && attempt < 10; attempt++) {
      this.#next += 1;
      await this.pool.spawn(`${this.prefix}-${this.#next}`);
    }
  }

  /** Waits for a leader, and for every follower to have seen it. Returns the leader's event. */
  async settle(): Promise<PoolEvent> {
    const timeoutMs = 3 * this.timing.leaseDurationMs + 10_000;
    const deadline = Date.now() + timeoutMs;
    let leader = currentLeader(this.pool.log, this.pool.alive());
    for (let round = 0; leader === undefined && round < 100 && Date.now() < deadline; round++) {
      await this.pool.waitFor(
        (event) => event.event === "started-leading",
        this.pool.log.length - 1,
        deadline - Date.now(),
      );
      leader = currentLeader(this.pool.log, this.pool.alive());
    }
    if (leader === undefined)
      throw new Error(`no leader among ${this.pool.alive().join(", ")} within ${timeoutMs} ms`);
    const leaderId = leader.identity;
    for (const follower of this.pool.alive()) {
      if (follower === leaderId) continue;
      const seen = await this.pool.waitFor(
        (event) => event.identity === follower && event.event === "new-leader" && event.leader === leaderId,
        -1,
        timeoutMs,
      );
      if (seen === undefined)
        throw new Error(`${follower} never saw ${leaderId} lead within ${timeoutMs} ms`);
    }
    return leader;
  }

  /**
   * One store outage: the store stops answering for two leases (every leader steps down), then comes
   * back; returns the time from its resume to the next started-leading. The engine's promise is one
   * retry period plus one lease, whatever the outage length.
   */
  async outage(): Promise<number | undefined> {
    const store = this.store;
    if (store === undefined) throw new Error("this backend has no store to pause");
    await this.fill();
    await this.settle();
    await sleep(this.timing.retryPeriodMs * (2 + Math.random()));
    await store.pause();
    await sleep(2 * this.timing.leaseDurationMs);
    const mark = this.pool.log.length - 1;
    const resumedAt = process.hrtime.bigint();
    await store.resume();
    const next = await this.pool.waitFor(
      (event) => event.event === "started-leading" && event.ns > resumedAt,
      mark,
      3 * this.timing.leaseDurationMs + 10_000,
    );
    return next === undefined ? undefined : nsToMs(resumedAt, next.ns);
  }

  /**
   * One handover: the leader is asked to hand over to a random follower; returns the time from its
   * `handOver()` call to the next started-leading, and counts whether the chosen one won.
   */
  async handover(): Promise<number | undefined> {
    await this.fill();
    const leader = await this.settle();
    await sleep(this.timing.retryPeriodMs * (2 + Math.random()));
    const followers = this.pool.alive().filter((identity) => identity !== leader.identity);
    const successor = followers[Math.floor(Math.random() * followers.length)];
    if (successor === undefined) throw new Error("no follower to hand over to");
    const mark = this.pool.log.length - 1;
    this.pool.handOver(leader.identity, successor);
    const called = await this.pool.waitFor(
      (event) => event.identity === leader.identity && event.event === "hand-over-called",
      mark,
      5_000,
    );
    if (called === undefined) throw new Error(`${leader.identity} never called handOver()`);
    const next = await this.pool.waitFor(
      (event) => event.event === "started-leading" && event.ns > called.ns,
      mark,
      3 * this.timing.leaseDurationMs + 5_000,
    );
    const failed = this.pool.log
      .slice(mark + 1)
      .find((event) => event.identity === leader.identity && event.event === "hand-over-failed");
    if (failed !== undefined) throw new Error(`handOver() failed: ${failed.message ?? "?"}`);
    if (next === undefined) return undefined;
    if (next.identity === successor) this.successorWins += 1;
    const ended = await this.pool.waitFor(
      (event) => event.identity === leader.identity && event.event === "stopped-leading",
      mark,
      5_000,
    );
    if (ended === undefined || ended.ns > next.ns) this.overlaps += 1;
    return nsToMs(called.ns, next.ns);
  }

  /** One trial: the failover time in ms (undefined when no new leader came in time), and its phases. */
  async once(scenario: Scenario): Promise<{ sampleMs: number | undefined; phases?: TrialPhases }> {
    if (scenario === "store-outage") return { sampleMs: await this.outage() };
    if (scenario === "handover") return { sampleMs: await this.handover() };
    await this.fill();
    const leader = await this.settle();
    // Let the leader renew a few times, and kill at a random phase of its renewal cycle.
    await sleep(this.timing.retryPeriodMs * (2 + Math.random()));
    const mark = this.pool.log.length - 1;
    const killedAt = this.pool.kill(leader.identity, scenario === "crash" ? "SIGKILL" : "SIGTERM");
    const limitMs = 3 * this.timing.leaseDurationMs + 5_000;
    const next = await this.pool.waitFor(
      (event) =>
        event.event === "started-leading" && event.identity !== leader.identity && event.ns > killedAt,
      mark,
      limitMs,
    );
    if (next !== undefined && scenario === "graceful") {
      // Safety check: the stopping leader must report the end of its term before anyone else leads.
      const ended = await this.pool.waitFor(
        (event) =>
          event.identity === leader.identity && (event.event === "stopped-leading" || event.event === "exit"),
        mark,
        5_000,
      );
      if (ended?.event === "stopped-leading" && ended.ns > next.ns) this.overlaps += 1;
    }
    const phases = next === undefined ? undefined : await this.phases(killedAt, next, leader.identity, mark);
    // A new candidate replaces the killed one, so every trial starts with three.
    await this.fill();
    return {
      sampleMs: next === undefined ? undefined : nsToMs(killedAt, next.ns),
      ...(phases === undefined ? {} : { phases }),
    };
  }

  /** The phases of a failover to `next`: needs the write's send time and the other follower's sighting. */
  async phases(
    killedAt: bigint,
    next: PoolEvent,
    oldLeader: string,
    mark: number,
  ): Promise<TrialPhases | undefined> {
    if (next.writeSentNs === undefined) return undefined;
    const others = this.pool
      .alive()
      .filter((identity) => identity !== oldLeader && identity !== next.identity);
    let notifiedNs = next.ns;
    for (const other of others) {
      const seen = await this.pool.waitFor(
        (event) => event.identity === other && event.event === "new-leader" && event.leader === next.identity,
        mark,
        5_000,
      );
      if (seen === undefined) return undefined;
      if (seen.ns > notifiedNs) notifiedNs = seen.ns;
    }
    return {
      detectionMs: nsToMs(killedAt, next.writeSentNs),
      compareAndSwapMs: nsToMs(next.writeSentNs, next.ns),
      notificationMs: nsToMs(next.ns, notifiedNs),
    };
  }

  async run(scenario: Scenario, count: number, onTrial: (done: number) => void): Promise<TrialRun> {
    const samplesMs: number[] = [];
    const phases: TrialPhases[] = [];
    const notes: string[] = [];
    const overlapsBefore = this.overlaps;
    const winsBefore = this.successorWins;
    let failures = 0;
    for (let trial = 0; trial < count; trial++) {
      try {
        const { sampleMs: sample, phases: trialPhases } = await this.once(scenario);
        if (trialPhases !== undefined) phases.push(trialPhases);
        if (sample === undefined) {
          failures += 1;
          notes.push(`trial ${trial + 1}: no new leader within the limit`);
        } else samplesMs.push(Math.round(sample * 10) / 10);
      } catch (error) {
        failures += 1;
        notes.push(`trial ${trial + 1}: ${error instanceof Error ? error.message : String(error)}`);
      }
      onTrial(trial + 1);
    }
    return {
      samplesMs,
      phases,
      failures,
      notes,
      overlaps: this.overlaps - overlapsBefore,
      successorWins: this.successorWins - winsBefore,
    };
  }
}
