import type { ElectionTiming, Elector, LeaderObservation, LockStore, ObserveItem } from "@tenure/core";
import { Elector as ElectorClass, observe } from "@tenure/core";
import { afterEach, describe, expect, it } from "vitest";
import { awaitLeader, rawRecord, StorePool, uniqueName } from "./support.js";
import type { ConformanceTarget } from "./target.js";
import { defaultTiming } from "./target.js";

/** The observer's store: reads pass through, and any write is counted (and refused). */
function readOnlyProbe(inner: LockStore): { store: LockStore; writes: () => number } {
  let writes = 0;
  const refuse = async (): Promise<never> => {
    writes++;
    throw new Error("the observer must not write");
  };
  const watch = inner.watch?.bind(inner);
  const store: LockStore = {
    backend: inner.backend,
    capabilities: inner.capabilities,
    get: (name, options) => inner.get(name, options),
    create: refuse,
    update: refuse,
    close: () => inner.close(),
    ...(watch === undefined ? {} : { watch: (name: string, signal: AbortSignal) => watch(name, signal) }),
  };
  return { store, writes: () => writes };
}

/** Follows one observe stream, so a test can wait for an item and read them all afterwards. */
class Follower {
  readonly items: LeaderObservation[] = [];
  readonly errors: ObserveItem[] = [];
  readonly #abort = new AbortController();
  readonly #waiters = new Set<() => void>();
  readonly done: Promise<void>;

  constructor(store: LockStore, name: string, validityMs: number) {
    const stream = observe(store, name, { signal: this.#abort.signal, leaderValidityMs: validityMs });
    this.done = (async () => {
      for await (const item of stream) {
        if (item.type === "leader") this.items.push(item);
        else this.errors.push(item);
        for (const wake of [...this.#waiters]) wake();
      }
    })();
  }

  /** The first item from index `from` on that matches, waiting up to `timeoutMs`. */
  async until(
    predicate: (item: LeaderObservation) => boolean,
    timeoutMs: number,
    what: string,
    from = 0,
  ): Promise<LeaderObservation> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.items.slice(from).find(predicate);
      if (found !== undefined) return found;
      const leftMs = deadline - performance.now();
      if (leftMs <= 0)
        throw new Error(`timed out after ${timeoutMs} ms waiting for the observer to see ${what}`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, leftMs);
        this.#waiters.add(wake);
      });
    }
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.done;
  }
}

/** The term ends each leader reached (its last safe-to-act deadline), from its own events. */
function termEnds(elector: Elector): Map<number, number> {
  const ends = new Map<number, number>();
  elector.subscribe((event) => {
    if (event.type === "started-leading" || event.type === "renewed") {
      ends.set(event.fencingToken, event.safeUntilMs);
    }
  });
  return ends;
}

/**
 * The observe contract: `observe()` over the real store follows the election without writing, says
 * "no leader" when the leader releases or stops renewing, and never names a leader past the end of
 * its term (checked against the leader's own safe-to-act deadline, on this process's clock).
 */
export function describeObserveContract(target: ConformanceTarget): void {
  const timing: ElectionTiming = target.timing ?? defaultTiming(target.capabilities);
  const { leaseDurationMs: lease, retryPeriodMs: retry, renewDeadlineMs: renewDeadline } = timing;
  /** renewDeadline − operationTimeout of the electors below (their default timeout: renewDeadline / 2). */
  const validityMs = renewDeadline / 2;
  const slack = 1500;

  describe(`${target.name}: observe contract`, () => {
    const pool = new StorePool(target);
    const running: Elector[] = [];
    const followers: Follower[] = [];
    afterEach(async () => {
      await Promise.allSettled(followers.splice(0).map((follower) => follower.close()));
      await Promise.allSettled(running.splice(0).map((elector) => elector.stop({ release: false })));
      await pool.closeAll();
    });

    async function candidate(
      name: string,
      identity: string,
    ): Promise<{ elector: Elector; ends: Map<number, number> }> {
      const elector = new ElectorClass({ store: await pool.open(), name, identity, ...timing });
      const ends = termEnds(elector);
      running.push(elector);
      elector.start();
      return { elector, ends };
    }

    async function follower(
      name: string,
    ): Promise<{ follower: Follower; probe: ReturnType<typeof readOnlyProbe> }> {
      const probe = readOnlyProbe(await pool.open());
      const follower = new Follower(probe.store, name, validityMs);
      followers.push(follower);
      return { follower, probe };
    }

    /** Every item naming a leader must end no later than that leader's term did. */
    function assertNeverPastTheTerm(
      items: readonly LeaderObservation[],
      ends: ReadonlyMap<number, number>,
    ): void {
      for (const item of items) {
        if (item.leader === null || item.token === null) continue;
        const end = ends.get(item.token);
        expect(end, `a term with token ${item.token}`).toBeDefined();
        expect(item.validUntilMs ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(end ?? 0);
      }
    }

    it("follows changes of leader, says 'no leader' at once on a release, and never writes", async () => {
      const name = uniqueName(target, "observe-release");
      const a = await candidate(name, `${name}-a`);
      await awaitLeader([a.elector], lease + slack);
      const { follower: watcher, probe } = await follower(name);
      const first = await watcher.until(
        (item) => item.leader === a.elector.identity,
        lease + slack,
        "a lead",
      );
      expect(first.token).toBe(a.elector.fencingToken());

      const releasedAt = performance.now();
      await a.elector.stop({ release: true });
      const from = watcher.items.length;
      const released = await watcher.until(
        (item) => item.reason === "released",
        (target.capabilities.watch ? 0 : retry) + slack,
        "the release",
      );
      const noticeMs = released.atMs - releasedAt;
      console.info(
        `${target.name}: observe saw the release ${noticeMs.toFixed(1)} ms after stop() was called`,
      );
      expect(released).toMatchObject({ leader: null, holder: null, token: first.token });
      expect(watcher.items.slice(from).every((item) => item.leader === null)).toBe(true);

      const b = await candidate(name, `${name}-b`);
      await awaitLeader([b.elector], lease + slack);
      const next = await watcher.until(
        (item) => item.leader === b.elector.identity,
        lease + slack,
        "b lead",
        from,
      );
      expect(next.token).toBe(b.elector.fencingToken());
      expect(next.token ?? -1).toBeGreaterThan(first.token ?? Number.POSITIVE_INFINITY);
      // The store holds b's record, written by b alone: the observer sent no write.
      expect(rawRecord(await target.readRaw(name)).holderIdentity).toBe(b.elector.identity);
      expect(probe.writes()).toBe(0);
      assertNeverPastTheTerm(watcher.items, new Map([...a.ends, ...b.ends]));
    });

    it("says 'no leader' when the leader stops renewing, before its term could have ended", async () => {
      const name = uniqueName(target, "observe-lapse");
      const a = await candidate(name, `${name}-a`);
      await awaitLeader([a.elector], lease + slack);
      const { follower: watcher, probe } = await follower(name);
      await watcher.until((item) => item.leader === a.elector.identity, lease + slack, "a lead");
      const crashedAt = performance.now();
      await a.elector.stop({ release: false }); // a crash, as far as the store can tell
      const lapsed = await watcher.until((item) => item.reason === "lapsed", validityMs + slack, "the lapse");
      console.info(
        `${target.name}: observe dropped a crashed leader ${(lapsed.atMs - crashedAt).toFixed(1)} ms after it crashed`,
      );
      expect(lapsed).toMatchObject({ leader: null, holder: a.elector.identity });
      assertNeverPastTheTerm(watcher.items, a.ends);
      expect(probe.writes()).toBe(0);
      // No write at all since the crash: the record still names the crashed leader.
      expect(rawRecord(await target.readRaw(name)).holderIdentity).toBe(a.elector.identity);
    });
  });
}
