import type { ElectionTiming, ElectorOptions, LockStore } from "@tenure/core";
import { Elector, InvalidArgumentError } from "@tenure/core";
import { LeadershipLog } from "@tenure/core/testing";
import { afterEach, describe, expect, it } from "vitest";
import { awaitAgreement, awaitLeader, nextEvent, rawRecord, StorePool, uniqueName } from "./support.js";
import type { ConformanceTarget } from "./target.js";
import { defaultTiming } from "./target.js";

/**
 * The election contract: real Electors over the real store, on the real clock. All electors run in
 * this process, so every safe-to-act interval is measured on one monotonic clock.
 */
export function describeElectionContract(target: ConformanceTarget): void {
  const timing: ElectionTiming = target.timing ?? defaultTiming(target.capabilities);
  const { leaseDurationMs: lease, retryPeriodMs: retry, renewDeadlineMs: renewDeadline } = timing;
  /** Slack for scheduling and round trips on a loaded two-core CI machine. */
  const slack = 1500;
  /** How long a release takes to be noticed: a round trip with watch, a poll without. */
  const releaseNoticeMs = target.capabilities.watch ? slack : retry + slack;
  const rounds = target.rounds ?? 8;

  describe(`${target.name}: election contract`, () => {
    const pool = new StorePool(target);
    const running: Elector[] = [];
    /** The store each elector was given, so a fault can be aimed at one candidate. */
    const stores = new WeakMap<Elector, LockStore>();
    const storeOf = (elector: Elector): LockStore => {
      const store = stores.get(elector);
      if (store === undefined) throw new Error(`no store recorded for ${elector.identity}`);
      return store;
    };
    afterEach(async () => {
      await Promise.allSettled(running.splice(0).map((elector) => elector.stop({ release: false })));
      await pool.closeAll();
    });

    async function candidates(name: string, count: number, log?: LeadershipLog): Promise<Elector[]> {
      const electors: Elector[] = [];
      for (let i = 0; i < count; i++) electors.push(await candidate(name, `${name}-candidate-${i}`, log));
      return electors;
    }

    async function candidate(
      name: string,
      identity: string,
      log?: LeadershipLog,
      store?: LockStore,
    ): Promise<Elector> {
      const own = store ?? (await pool.open());
      const elector = new Elector({ store: own, name, identity, ...timing });
      stores.set(elector, own);
      log?.attach(elector);
      running.push(elector);
      return elector.start();
    }

    it("elects exactly one leader among several candidates, and all agree who it is", async () => {
      const name = uniqueName(target, "one-leader");
      const log = new LeadershipLog();
      const electors = await candidates(name, 3, log);
      const leader = await awaitLeader(electors, lease + slack);
      await awaitAgreement(electors, leader.identity, releaseNoticeMs + lease);
      expect(electors.filter((elector) => elector.isLeader())).toEqual([leader]);
      const raw = rawRecord(await target.readRaw(name));
      expect(raw.holderIdentity).toBe(leader.identity);
      expect(raw.leaderTransitions).toBe(leader.fencingToken());
      expect(raw.leaseDurationSeconds).toBe(lease / 1000);
      log.assertSafe();
    });

    it("keeps one leader through many renewals with one write each", async () => {
      const name = uniqueName(target, "renewals");
      const log = new LeadershipLog();
      const electors = await candidates(name, 2, log);
      const leader = await awaitLeader(electors, lease + slack);
      const renewals: number[] = [];
      const unsubscribe = leader.subscribe((event) => {
        if (event.type === "renewed") renewals.push(event.latencyMs);
      });
      await nextEvent(
        [leader],
        () => renewals.length >= 5,
        5 * retry + renewDeadline + slack,
        "five renewals",
      );
      unsubscribe();
      expect(leader.isLeader()).toBe(true);
      expect(electors.filter((elector) => elector.isLeader())).toHaveLength(1);
      log.assertSafe();
    });

    it("fails over after the leader dies without releasing, within a lease and a retry period", async () => {
      const name = uniqueName(target, "crash");
      const log = new LeadershipLog();
      const electors = await candidates(name, 3, log);
      const first = await awaitLeader(electors, lease + slack);
      const firstToken = first.fencingToken() ?? -1;
      await awaitAgreement(electors, first.identity, releaseNoticeMs + lease);
      const crashedAt = performance.now();
      await first.stop({ release: false }); // as far as the store can tell, a crash
      const survivors = electors.filter((elector) => elector !== first);
      const next = await awaitLeader(survivors, lease + retry + slack);
      expect(performance.now() - crashedAt).toBeLessThan(lease + retry + slack);
      expect(next.fencingToken()).toBeGreaterThan(firstToken);
      expect(rawRecord(await target.readRaw(name)).holderIdentity).toBe(next.identity);
      log.assertSafe();
    });

    it("fails over at once after the leader releases", async () => {
      const name = uniqueName(target, "release");
      const log = new LeadershipLog();
      const electors = await candidates(name, 3, log);
      const first = await awaitLeader(electors, lease + slack);
      const firstToken = first.fencingToken() ?? -1;
      await awaitAgreement(electors, first.identity, releaseNoticeMs + lease);
      const releasedAt = performance.now();
      await first.stop({ release: true });
      const survivors = electors.filter((elector) => elector !== first);
      const next = await awaitLeader(survivors, releaseNoticeMs);
      expect(performance.now() - releasedAt).toBeLessThan(releaseNoticeMs);
      expect(next.fencingToken()).toBeGreaterThan(firstToken);
      log.assertSafe();
    });

    it("releases to an empty holder on stop when nobody else is waiting", async () => {
      const name = uniqueName(target, "release-alone");
      const [only] = await candidates(name, 1);
      if (only === undefined) throw new Error("no candidate");
      await awaitLeader([only], lease + slack);
      const token = only.fencingToken();
      await only.stop();
      const raw = rawRecord(await target.readRaw(name));
      expect(raw.holderIdentity).toBe("");
      expect(raw.leaderTransitions).toBe(token);
    });

    it("steps the leader down when it cannot reach the store, before anyone else takes over", async () => {
      const name = uniqueName(target, "partition");
      const log = new LeadershipLog();
      const electors = await candidates(name, 3, log);
      const leader = await awaitLeader(electors, lease + slack);
      await awaitAgreement(electors, leader.identity, releaseNoticeMs + lease);
      const stepDown = nextEvent(
        [leader],
        (event) => event.type === "stopped-leading",
        renewDeadline + retry + slack,
        "the isolated leader to step down",
      );
      const isolatedAt = performance.now();
      await target.faults.isolate(storeOf(leader));
      const { event } = await stepDown;
      expect(event.type === "stopped-leading" && event.reason).toBe("renew-deadline");
      expect(performance.now() - isolatedAt).toBeLessThan(renewDeadline + retry + slack);
      expect(leader.isLeader()).toBe(false);
      const survivors = electors.filter((elector) => elector !== leader);
      const next = await awaitLeader(survivors, lease + retry + slack);
      expect(next.fencingToken()).toBeGreaterThan(
        log.intervals()[0]?.fencingToken ?? Number.POSITIVE_INFINITY,
      );
      await target.faults.heal(storeOf(leader));
      log.assertSafe();
    }, 60_000);

    it(
      `never lets two leaders' safe-to-act intervals overlap, and tokens strictly increase, over ${rounds} rounds`,
      async () => {
        const name = uniqueName(target, "rounds");
        const log = new LeadershipLog();
        const electors = await candidates(name, 3, log);
        let spawned = electors.length;
        for (let round = 0; round < rounds; round++) {
          const live = electors.filter((elector) => running.includes(elector));
          const leader = await awaitLeader(live, lease + retry + slack);
          switch (round % 3) {
            case 0:
              await leader.stop({ release: false });
              break;
            case 1:
              await leader.stop({ release: true });
              break;
            default:
              await target.faults.isolate(storeOf(leader));
              await nextEvent(
                [leader],
                (event) => event.type === "stopped-leading",
                renewDeadline + slack,
                "step-down",
              );
              await leader.stop({ release: false });
              await target.faults.heal(storeOf(leader));
          }
          running.splice(running.indexOf(leader), 1);
          electors.splice(electors.indexOf(leader), 1);
          // Keep three candidates: a newcomer joins for each one removed.
          electors.push(await candidate(name, `${name}-candidate-${spawned++}`, log));
          await awaitLeader(electors, lease + retry + slack);
        }
        const intervals = log.intervals();
        expect(intervals.length).toBeGreaterThanOrEqual(rounds + 1);
        log.assertSafe();
      },
      rounds * 3 * (lease + 2 * slack) + 30_000,
    );

    it("rejects bad options with INVALID_ARGUMENT naming the field", async () => {
      const store = await pool.open();
      const name = uniqueName(target, "options");
      const base: ElectorOptions = { store, name, identity: "candidate", ...timing };
      const cases: [Partial<ElectorOptions>, string][] = [
        [{ leaseDurationMs: renewDeadline }, "leaseDurationMs"],
        [{ renewDeadlineMs: retry }, "renewDeadlineMs"],
        [{ retryPeriodMs: -1 }, "retryPeriodMs"],
        [{ leaseDurationMs: Number.NaN }, "leaseDurationMs"],
        [{ identity: "" }, "identity"],
        [{ name: "Not A Name" }, "name"],
        [{ operationTimeoutMs: renewDeadline }, "operationTimeoutMs"],
      ];
      if (target.capabilities.leaseGranularityMs > 1) {
        cases.push([
          { leaseDurationMs: lease + target.capabilities.leaseGranularityMs / 2 },
          "leaseDurationMs",
        ]);
      }
      for (const [override, field] of cases) {
        let thrown: unknown;
        try {
          new Elector({ ...base, ...override });
        } catch (error) {
          thrown = error;
        }
        expect(thrown, JSON.stringify(override)).toBeInstanceOf(InvalidArgumentError);
        expect((thrown as InvalidArgumentError).code).toBe("INVALID_ARGUMENT");
        expect((thrown as InvalidArgumentError).field).toBe(field);
      }
    });

    if (target.writeCorrupt !== undefined) {
      const writeCorrupt = target.writeCorrupt.bind(target);
      it("never overwrites an undecodable lock before it has been unchanged for a full lease", async () => {
        const name = uniqueName(target, "corrupt");
        await writeCorrupt(name);
        const [elector] = await candidates(name, 1);
        if (elector === undefined) throw new Error("no candidate");
        const startedAt = performance.now();
        await awaitLeader([elector], lease + retry + slack);
        expect(performance.now() - startedAt).toBeGreaterThanOrEqual(lease);
        expect(rawRecord(await target.readRaw(name)).holderIdentity).toBe(elector.identity);
      });
    }
  });
}
