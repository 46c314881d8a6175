/**
 * Named handover: the leader steps down and offers the next term to a chosen successor with one
 * compare-and-swap; the successor takes it with its own write; nobody else can win in between.
 */
import { describe, expect, it } from "vitest";
import type {
  Effect,
  LeaderRecord,
  MachineConfig,
  MachineEvent,
  MachineState,
  Snapshot,
} from "../src/index.js";
import { Elector, initialState, isLeading, step, UnavailableError } from "../src/index.js";
import { LeadershipLog, VirtualTime } from "../src/testing/index.js";
import { FakeStore } from "./support/fake-store.js";

const config: MachineConfig = {
  identity: "me",
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
  watch: true,
};

const wall = new Date("2026-11-25T10:00:00Z");

function record(overrides: Partial<LeaderRecord> = {}): LeaderRecord {
  return {
    holderIdentity: "other",
    leaseDurationSeconds: 15,
    acquireTime: "2020-01-01T00:00:00Z",
    renewTime: "2020-01-01T00:00:00Z",
    leaderTransitions: 4,
    ...overrides,
  };
}

class Driver {
  state: MachineState = initialState;
  effects: Effect[] = [];
  wakeAtMs: number | null = null;

  constructor(readonly machineConfig: MachineConfig = config) {}

  at(monotonicMs: number, event: MachineEvent): Effect[] {
    const result = step(this.machineConfig, this.state, event, { monotonicMs, wallTime: wall });
    this.state = result.state;
    this.wakeAtMs = result.wakeAtMs;
    this.effects.push(...result.effects);
    return [...result.effects];
  }

  pendingId(): number {
    const pending = this.state.pending;
    if (pending === null) throw new Error("no operation pending");
    return pending.id;
  }

  complete(monotonicMs: number, snapshot: Snapshot | null): Effect[] {
    return this.at(monotonicMs, {
      type: "completed",
      operationId: this.pendingId(),
      result: { kind: "ok", snapshot },
    });
  }
}

const types = (effects: Effect[]): string[] => effects.map((effect) => effect.type);

/** A leader ("me") holding version "1" with token 0, from a write sent at 0. */
function leader(): Driver {
  const driver = new Driver();
  driver.at(0, { type: "start" });
  driver.complete(0, null);
  driver.complete(50, { version: "1", record: record({ holderIdentity: "me", leaderTransitions: 0 }) });
  expect(isLeading(driver.state, 50)).toBe(true);
  return driver;
}

function only<T extends Effect["type"]>(effects: Effect[], type: T): Extract<Effect, { type: T }> {
  const found = effects.filter((effect) => effect.type === type);
  expect(found).toHaveLength(1);
  return found[0] as Extract<Effect, { type: T }>;
}

describe("handover in the machine: the leader", () => {
  it("stops acting before it sends one compare-and-swap offering the next term to the successor", () => {
    const driver = leader();
    const effects = driver.at(1000, { type: "hand-over", successor: "next", requestId: 7 });
    // Stepping down comes first: the signal is aborted before the write leaves.
    expect(types(effects).slice(0, 2)).toEqual(["stopped-leading", "update"]);
    expect(effects[0]).toMatchObject({ reason: "handed-over", fencingToken: 0 });
    expect(isLeading(driver.state, 1000)).toBe(false);
    const update = only(effects, "update");
    expect(update.purpose).toBe("hand-over");
    expect(update.expectedVersion).toBe("1");
    expect(update.record).toEqual({
      holderIdentity: "next",
      leaseDurationSeconds: 15,
      acquireTime: "",
      renewTime: "2026-11-25T10:00:00.000000Z",
      leaderTransitions: 1,
    });

    const settled = driver.complete(1010, { version: "2", record: update.record });
    expect(only(settled, "handover-settled")).toMatchObject({
      requestId: 7,
      successor: "next",
      outcome: "written",
      fencingToken: 1,
      error: null,
    });
    // A follower again, that sees the successor as the holder and waits out its lease like anyone.
    expect(driver.state.role).toBe("follower");
    expect(only(settled, "leader-changed").leader).toBe("next");
    expect(driver.wakeAtMs).toBe(1010 + 15_000);
    expect(types(driver.at(16_009, { type: "timer" }))).toEqual([]);
  });

  it("refuses when it does not lead, or when the successor is itself, and writes nothing", () => {
    const follower = new Driver();
    follower.at(0, { type: "start" });
    follower.complete(10, { version: "7", record: record() });
    const refused = follower.at(20, { type: "hand-over", successor: "next", requestId: 1 });
    expect(refused).toEqual([
      expect.objectContaining({ type: "handover-settled", outcome: "not-leading", requestId: 1 }),
    ]);

    const driver = leader();
    const self = driver.at(100, { type: "hand-over", successor: "me", requestId: 2 });
    expect(self).toEqual([
      expect.objectContaining({ type: "handover-settled", outcome: "invalid-successor", requestId: 2 }),
    ]);
    expect(isLeading(driver.state, 100)).toBe(true);
  });

  it("refuses once its renew deadline passed, even if no timer told it", () => {
    const driver = leader();
    const effects = driver.at(10_000, { type: "hand-over", successor: "next", requestId: 1 });
    expect(types(effects)).toContain("stopped-leading");
    expect(only(effects, "handover-settled").outcome).toBe("not-leading");
    expect(types(effects)).not.toContain("update");
  });

  it("reports a lost race as not written, and follows", () => {
    const driver = leader();
    driver.at(1000, { type: "hand-over", successor: "next", requestId: 1 });
    driver.at(1010, { type: "completed", operationId: driver.pendingId(), result: { kind: "conflict" } });
    // It reads to learn why: another holder.
    expect(driver.state.pending?.purpose).toBe("observe");
    const effects = driver.complete(1020, { version: "5", record: record({ leaderTransitions: 3 }) });
    expect(only(effects, "handover-settled")).toMatchObject({ outcome: "not-written", error: null });
    expect(driver.state.role).toBe("follower");
  });

  it("reads after a failed write, and reports it written when the read shows the offer", () => {
    const driver = leader();
    driver.at(1000, { type: "hand-over", successor: "next", requestId: 1 });
    const error = new UnavailableError("timed out");
    driver.at(1500, {
      type: "completed",
      operationId: driver.pendingId(),
      result: { kind: "failed", error },
    });
    expect(driver.state.pending?.purpose).toBe("observe");
    const effects = driver.complete(1600, {
      version: "2",
      record: record({ holderIdentity: "next", acquireTime: "", leaderTransitions: 1 }),
    });
    expect(only(effects, "handover-settled")).toMatchObject({ outcome: "written", fencingToken: 1 });
  });

  it("writes the offer again once when a failed write did not land, then reports the store's error", () => {
    const driver = leader();
    driver.at(1000, { type: "hand-over", successor: "next", requestId: 1 });
    const error = new UnavailableError("timed out");
    driver.at(1500, {
      type: "completed",
      operationId: driver.pendingId(),
      result: { kind: "failed", error },
    });
    // Still our own record: the offer is written again on it (the second and last attempt).
    const retry = driver.complete(1600, {
      version: "1",
      record: record({ holderIdentity: "me", leaderTransitions: 0 }),
    });
    expect(only(retry, "update").purpose).toBe("hand-over");
    // The second failure ends it: attempts are bounded, and the outcome is reported as unconfirmed.
    const effects = driver.at(1700, {
      type: "completed",
      operationId: driver.pendingId(),
      result: { kind: "failed", error },
    });
    expect(only(effects, "handover-settled")).toMatchObject({ outcome: "not-written", error });
    expect(driver.state.role).toBe("follower");
  });

  it("uses a token above every token it has seen", () => {
    const driver = leader();
    driver.state = { ...driver.state, highestToken: 9 };
    const update = only(driver.at(1000, { type: "hand-over", successor: "next", requestId: 1 }), "update");
    expect(update.record.leaderTransitions).toBe(10);
  });
});

describe("handover in the machine: the successor and the others", () => {
  const offer = (overrides: Partial<LeaderRecord> = {}): Snapshot => ({
    version: "9",
    record: record({ holderIdentity: "me", acquireTime: "", leaderTransitions: 5, ...overrides }),
  });

  it("takes an offered term at once with its own write, and leads only once that write succeeded", () => {
    const driver = new Driver();
    driver.at(0, { type: "start" });
    driver.complete(1000, { version: "7", record: record() });
    const effects = driver.at(3000, { type: "observed", snapshot: offer() });
    const update = only(effects, "update");
    expect(update.purpose).toBe("acquire");
    expect(update.expectedVersion).toBe("9");
    expect(update.record).toMatchObject({
      holderIdentity: "me",
      acquireTime: "2026-11-25T10:00:00.000000Z",
      leaderTransitions: 5,
    });
    // Until its own write is answered it does not lead, and names nobody as leader.
    expect(isLeading(driver.state, 3000)).toBe(false);
    expect(types(effects)).toContain("leader-changed");
    expect(only(effects, "leader-changed").leader).toBe(null);
    const won = driver.complete(3040, { version: "10", record: update.record });
    expect(only(won, "started-leading")).toMatchObject({ fencingToken: 5, safeUntilMs: 3000 + 10_000 });
  });

  it("treats a record naming it with an acquire time as someone else's term (a twin) and waits a lease", () => {
    const driver = new Driver();
    driver.at(0, { type: "start" });
    const effects = driver.complete(1000, offer({ acquireTime: "2026-11-25T09:59:00.000000Z" }));
    expect(types(effects)).not.toContain("update");
    expect(driver.wakeAtMs).toBe(16_000);
  });

  it("loses the race for an offer to a twin, then waits out the twin's lease", () => {
    const driver = new Driver();
    driver.at(0, { type: "start" });
    driver.complete(1000, offer());
    driver.at(1010, { type: "completed", operationId: driver.pendingId(), result: { kind: "conflict" } });
    const effects = driver.complete(1020, {
      version: "10",
      record: record({ holderIdentity: "me", acquireTime: "2026-11-25T10:00:00.5Z", leaderTransitions: 5 }),
    });
    expect(types(effects)).not.toContain("update");
    expect(types(effects)).not.toContain("started-leading");
    expect(driver.wakeAtMs).toBe(1020 + 15_000);
  });

  it("does not take an offer while it holds off after resign()", () => {
    const driver = new Driver();
    driver.at(0, { type: "start" });
    driver.complete(1000, { version: "7", record: record() });
    driver.at(1000, { type: "resign", holdOffMs: 5000 });
    expect(types(driver.at(2000, { type: "observed", snapshot: offer() }))).not.toContain("update");
    expect(driver.wakeAtMs).toBe(6000);
    expect(only(driver.at(6000, { type: "timer" }), "update").expectedVersion).toBe("9");
  });

  it("another candidate treats the offer as a lease held by the successor, and elects normally after it", () => {
    const driver = new Driver();
    driver.at(0, { type: "start" });
    const offered = {
      version: "9",
      record: record({ holderIdentity: "next", acquireTime: "", leaderTransitions: 5 }),
    };
    const seen = driver.complete(1000, offered);
    expect(only(seen, "leader-changed").leader).toBe("next");
    expect(driver.wakeAtMs).toBe(16_000);
    expect(types(driver.at(15_999, { type: "timer" }))).not.toContain("update");
    const update = only(driver.at(16_000, { type: "timer" }), "update");
    expect(update.expectedVersion).toBe("9");
    expect(update.record.leaderTransitions).toBe(6);
  });
});

/** A seeded generator, so a failing round can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const timing = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

describe("Elector.handOver()", () => {
  for (const watch of [true, false]) {
    it(`the named successor wins every round, with no overlap and rising tokens (watch: ${watch})`, async () => {
      const next = random(watch ? 14 : 41);
      const time = new VirtualTime();
      const store = new FakeStore({ watch });
      const log = new LeadershipLog();
      const names = ["a", "b", "c", "d"];
      const electors = names.map((identity) => {
        const elector = new Elector({ store, clock: time.clock(), name: "handover", identity, ...timing });
        log.attach(elector);
        return elector.start();
      });
      await time.advanceBy(timing.retryPeriodMs);
      for (let round = 0; round < 25; round++) {
        const current = electors.find((elector) => elector.isLeader());
        expect(current).toBeDefined();
        if (current === undefined) return;
        const others = electors.filter((elector) => elector !== current);
        const chosen = others[Math.floor(next() * others.length)] as Elector;
        const before = current.fencingToken() ?? -1;
        const result = await current.handOver(chosen.identity);
        expect(result.successor).toBe(chosen.identity);
        expect(result.fencingToken).toBeGreaterThan(before);
        expect(current.isLeader()).toBe(false);
        // Within a poll (no watch) or at once (watch), and nobody else in between.
        const won = await time.advanceUntil(() => chosen.isLeader(), timing.retryPeriodMs + 1);
        expect(won).toBe(true);
        expect(chosen.fencingToken()).toBe(result.fencingToken);
        expect(electors.filter((elector) => elector.isLeader())).toEqual([chosen]);
        await time.advanceBy(Math.floor(next() * timing.leaseDurationMs));
      }
      expect(log.overlaps()).toEqual([]);
      expect(log.tokenRegressions()).toEqual([]);
      const winners = log.intervals().map((interval) => interval.candidate);
      expect(winners.length).toBeGreaterThanOrEqual(26);
      for (const elector of electors) await elector.stop({ release: false });
    });
  }

  it("a successor that is not running never leads; the election resumes after the lease", async () => {
    const time = new VirtualTime();
    const store = new FakeStore({ watch: true });
    const log = new LeadershipLog();
    const [first, second] = ["first", "second"].map((identity) => {
      const elector = new Elector({ store, clock: time.clock(), name: "handover", identity, ...timing });
      log.attach(elector);
      return elector.start();
    }) as [Elector, Elector];
    await time.advanceBy(0);
    expect(first.isLeader()).toBe(true);
    const handed = await first.handOver("ghost");
    expect(second.leader()).toBe("ghost");
    // Nobody may win while the offer's lease runs.
    await time.advanceBy(timing.leaseDurationMs - 1);
    expect(first.isLeader() || second.isLeader()).toBe(false);
    await time.advanceBy(2);
    const leaders = [first, second].filter((elector) => elector.isLeader());
    expect(leaders).toHaveLength(1);
    expect(leaders[0]?.fencingToken()).toBe(handed.fencingToken + 1);
    expect(log.overlaps()).toEqual([]);
    for (const elector of [first, second]) await elector.stop({ release: false });
  });

  it("rejects with typed errors naming the field and the rule, and changes nothing", async () => {
    const time = new VirtualTime();
    const store = new FakeStore({ watch: true });
    const first = new Elector({ store, clock: time.clock(), name: "handover", identity: "first", ...timing });
    await expect(first.handOver("second")).rejects.toMatchObject({ code: "CLOSED" });
    first.start();
    const second = new Elector({
      store,
      clock: time.clock(),
      name: "handover",
      identity: "second",
      ...timing,
    });
    second.start();
    await time.advanceBy(0);
    expect(first.isLeader()).toBe(true);
    await expect(first.handOver("first")).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringContaining("successor"),
    });
    await expect(first.handOver("")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(second.handOver("first")).rejects.toMatchObject({ code: "NOT_LEADER" });
    expect(first.isLeader()).toBe(true);
    const reasons: string[] = [];
    first.subscribe((event) => {
      if (event.type === "stopped-leading") reasons.push(event.reason);
    });
    await first.handOver("second");
    await time.advanceBy(0);
    expect(reasons).toEqual(["handed-over"]);
    expect(second.isLeader()).toBe(true);
    await second.stop();
    await first.stop();
    await expect(first.handOver("second")).rejects.toMatchObject({ code: "CLOSED" });
  });
});
