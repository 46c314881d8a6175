import type { ElectionTiming, ElectorOptions } from "@tenure/core";
import { candidatesRecordName, decodeCandidate, Elector } from "@tenure/core";
import { LeadershipLog } from "@tenure/core/testing";
import { afterEach, describe, expect, it } from "vitest";
import { awaitAgreement, awaitLeader, nextEvent, rawRecord, StorePool, uniqueName } from "./support.js";
import type { ConformanceTarget } from "./target.js";
import { defaultTiming } from "./target.js";

/**
 * The handover contract: `handOver(successor)` on real Electors over the real store. The named
 * successor takes the next term every time, nobody else wins in between, terms never overlap on
 * this process's monotonic clock, tokens rise, and an offer to a candidate that is not running
 * lapses after one lease into a normal election.
 */
export function describeHandoverContract(target: ConformanceTarget): void {
  const timing: ElectionTiming = target.timing ?? defaultTiming(target.capabilities);
  const { leaseDurationMs: lease, retryPeriodMs: retry } = timing;
  /** Slack for scheduling and round trips on a loaded two-core CI machine. */
  const slack = 1500;
  /** How long an offer takes to be noticed: a round trip with watch, a poll without. */
  const noticeMs = target.capabilities.watch ? slack : retry + slack;
  const rounds = target.rounds ?? 8;

  describe(`${target.name}: handover contract`, () => {
    const pool = new StorePool(target);
    const running: Elector[] = [];
    afterEach(async () => {
      await Promise.allSettled(running.splice(0).map((elector) => elector.stop({ release: false })));
      await pool.closeAll();
    });

    async function candidates(name: string, count: number, log: LeadershipLog): Promise<Elector[]> {
      const electors: Elector[] = [];
      for (let i = 0; i < count; i++) electors.push(await candidate(name, `${name}-candidate-${i}`, log));
      return electors;
    }

    async function candidate(
      name: string,
      identity: string,
      log: LeadershipLog,
      options: Partial<ElectorOptions> = {},
    ): Promise<Elector> {
      const elector = new Elector({ store: await pool.open(), name, identity, ...timing, ...options });
      log.attach(elector);
      running.push(elector);
      return elector.start();
    }

    /** Reads the candidate record with the backend's own client until it names `identity`, within `timeoutMs`. */
    async function awaitAdvertised(name: string, identity: string, timeoutMs: number): Promise<void> {
      const deadline = performance.now() + timeoutMs;
      let seen = "nothing";
      while (performance.now() < deadline) {
        const raw = await target.readRaw(candidatesRecordName(name));
        if (raw !== null && "record" in raw) {
          seen = raw.record.holderIdentity;
          if (decodeCandidate(seen)?.identity === identity) return;
        }
        await new Promise((resolve) => setTimeout(resolve, retry / 2));
      }
      throw new Error(`the candidate record did not name ${identity} within ${timeoutMs} ms (last: ${seen})`);
    }

    it(`hands over to the named successor every time among four candidates (${rounds} rounds)`, async () => {
      const name = uniqueName(target, "handover");
      const log = new LeadershipLog();
      const electors = await candidates(name, 4, log);
      let leader = await awaitLeader(electors, lease + slack);
      for (let round = 0; round < rounds; round++) {
        // Everyone knows the current leader, so the successor is surely watching (or polling) it.
        await awaitAgreement(electors, leader.identity, noticeMs + lease);
        const others = electors.filter((elector) => elector !== leader);
        const successor = others[round % others.length] as Elector;
        const before = leader.fencingToken() ?? -1;
        const started = nextEvent(
          electors,
          (event) => event.type === "started-leading",
          noticeMs + slack,
          `${successor.identity} to take the handed-over term`,
        );
        const result = await leader.handOver(successor.identity);
        expect(result).toEqual({ successor: successor.identity, fencingToken: before + 1 });
        expect(leader.isLeader()).toBe(false);
        // The first to start leading after the handover is the successor, with the offered token.
        const { elector: winner, event } = await started;
        expect(winner).toBe(successor);
        expect(event.type === "started-leading" && event.fencingToken).toBe(result.fencingToken);
        expect(electors.filter((elector) => elector.isLeader())).toEqual([successor]);
        const raw = rawRecord(await target.readRaw(name));
        expect(raw.holderIdentity).toBe(successor.identity);
        expect(raw.leaderTransitions).toBe(result.fencingToken);
        // Taken, no longer an offer: the successor stamped its own acquire time.
        expect(raw.acquireTime).not.toBe("");
        leader = successor;
      }
      log.assertSafe();
      const winners = log.intervals().map((interval) => interval.candidate);
      expect(winners).toHaveLength(rounds + 1);
      const tokens = log.intervals().map((interval) => interval.fencingToken);
      expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
    });

    it("an offer to a candidate that is not running holds for one lease, then a normal election follows", async () => {
      const name = uniqueName(target, "handover-absent");
      const log = new LeadershipLog();
      const electors = await candidates(name, 3, log);
      const first = await awaitLeader(electors, lease + slack);
      await awaitAgreement(electors, first.identity, noticeMs + lease);
      const absent = `${name}-not-running`;
      const calledAt = performance.now();
      const result = await first.handOver(absent);
      // The store holds an offer: a lease held by the absent successor, with no acquire time.
      const raw = rawRecord(await target.readRaw(name));
      expect(raw.holderIdentity).toBe(absent);
      expect(raw.acquireTime).toBe("");
      expect(raw.leaderTransitions).toBe(result.fencingToken);
      const next = await awaitLeader(electors, lease + noticeMs + slack);
      // Every candidate saw the offer after it was sent, and waited a full lease from that sighting.
      expect(performance.now() - calledAt).toBeGreaterThanOrEqual(lease);
      expect(next.fencingToken()).toBe(result.fencingToken + 1);
      log.assertSafe();
    });

    it("handOver() without a successor picks the highest-priority running candidate", async () => {
      const name = uniqueName(target, "handover-priority");
      const log = new LeadershipLog();
      const first = await candidate(name, `${name}-first`, log, { priority: 1 });
      await awaitLeader([first], lease + slack);
      const strong = await candidate(name, `${name}-strong`, log, { priority: 7 });
      const weak = await candidate(name, `${name}-weak`, log, { priority: 3 });
      await awaitAdvertised(name, strong.identity, 4 * retry + slack);
      // The leader reads the record every retry period: give it a few to see the claim.
      await new Promise((resolve) => setTimeout(resolve, 3 * retry));
      const started = nextEvent(
        [strong, weak],
        (event) => event.type === "started-leading",
        noticeMs + slack,
        "the successor",
      );
      const result = await first.handOver();
      expect(result.successor).toBe(strong.identity);
      expect((await started).elector).toBe(strong);
      log.assertSafe();
    });

    it("a leader with preemptAfterMs yields to a stronger candidate only after the stability delay", async () => {
      const name = uniqueName(target, "handover-preempt");
      const log = new LeadershipLog();
      const delayMs = 4 * retry;
      const low = await candidate(name, `${name}-low`, log, { priority: 1, preemptAfterMs: delayMs });
      await awaitLeader([low], lease + slack);
      const joinedAt = performance.now();
      const high = await candidate(name, `${name}-high`, log, { priority: 9 });
      const { event } = await nextEvent(
        [high],
        (seen) => seen.type === "started-leading",
        delayMs + 4 * retry + noticeMs + slack,
        "the stronger candidate to take over",
      );
      expect(event.type).toBe("started-leading");
      expect(performance.now() - joinedAt).toBeGreaterThanOrEqual(delayMs);
      expect(low.isLeader()).toBe(false);
      // No flapping back: the weaker one stays a follower for several leases.
      await new Promise((resolve) => setTimeout(resolve, 2 * lease));
      expect(high.isLeader()).toBe(true);
      expect(log.intervals().map((interval) => interval.candidate)).toEqual([low.identity, high.identity]);
      log.assertSafe();
    });
  });
}
