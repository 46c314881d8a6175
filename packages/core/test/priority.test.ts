/**
 * Priorities: candidates created with `priority` advertise themselves in the election's candidate
 * record, so `handOver()` without a successor picks the highest-priority running candidate, and a
 * leader with `preemptAfterMs` yields to a stronger candidate after the stability delay.
 */
import { describe, expect, it } from "vitest";
import type { ElectorOptions, LeaderRecord, LockStore, OperationOptions, Snapshot } from "../src/index.js";
import { candidatesRecordName, decodeCandidate, Elector, encodeCandidate } from "../src/index.js";
import { LeadershipLog, VirtualTime } from "../src/testing/index.js";
import { FakeStore } from "./support/fake-store.js";

/** One FakeStore per record name: the lock and the candidate record live side by side. */
class NamedStores implements LockStore {
  readonly backend = "fake";
  readonly capabilities = { watch: true, leaseGranularityMs: 1 };
  readonly #stores = new Map<string, FakeStore>();

  of(name: string): FakeStore {
    let store = this.#stores.get(name);
    if (store === undefined) {
      store = new FakeStore({ watch: true });
      this.#stores.set(name, store);
    }
    return store;
  }

  get(name: string): Promise<Snapshot | null> {
    return this.of(name).get();
  }
  create(name: string, record: LeaderRecord): Promise<Snapshot> {
    return this.of(name).create(name, record);
  }
  update(
    name: string,
    record: LeaderRecord,
    expectedVersion: string,
    _options?: OperationOptions,
  ): Promise<Snapshot> {
    return this.of(name).update(name, record, expectedVersion);
  }
  watch(name: string, signal: AbortSignal): AsyncIterable<Snapshot | null> {
    return this.of(name).watch(name, signal);
  }
  async close(): Promise<void> {}
}

const timing = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

function setup() {
  const time = new VirtualTime();
  const store = new NamedStores();
  const log = new LeadershipLog();
  const electors: Elector[] = [];
  const candidate = (identity: string, options: Partial<ElectorOptions> = {}): Elector => {
    const elector = new Elector({
      store,
      clock: time.clock(),
      name: "ranked",
      identity,
      ...timing,
      ...options,
    });
    log.attach(elector);
    electors.push(elector);
    return elector.start();
  };
  const leaders = () => electors.filter((elector) => elector.isLeader());
  const candidateRecord = () => store.of(candidatesRecordName("ranked")).current()?.record ?? null;
  return { time, store, log, candidate, leaders, candidateRecord, electors };
}

describe("the candidate record", () => {
  it("encodes the priority and the identity in holderIdentity, and decodes only that format", () => {
    expect(encodeCandidate({ identity: "worker b", priority: 10 })).toBe("10 worker b");
    expect(decodeCandidate("10 worker b")).toEqual({ identity: "worker b", priority: 10 });
    expect(decodeCandidate("")).toBeNull();
    expect(decodeCandidate("worker-b")).toBeNull();
    expect(decodeCandidate("-1 worker-b")).toBeNull();
    expect(candidatesRecordName("ranked")).toBe("ranked.candidates");
  });

  it("names the highest-priority running candidate that does not lead", async () => {
    const { time, candidate, candidateRecord } = setup();
    const leader = candidate("a", { priority: 7 });
    await time.advanceBy(0);
    expect(leader.isLeader()).toBe(true);
    candidate("b", { priority: 5 });
    candidate("c", { priority: 3 });
    await time.advanceBy(2 * timing.retryPeriodMs);
    // The leader does not advertise itself; the strongest follower holds the record.
    expect(decodeCandidate(candidateRecord()?.holderIdentity ?? "")).toEqual({ identity: "b", priority: 5 });
  });
});

describe("handOver() without a successor", () => {
  it("hands over to the highest-priority running candidate, and to the next once that one left", async () => {
    const { time, candidate, leaders, log } = setup();
    const a = candidate("a", { priority: 1 });
    await time.advanceBy(0);
    const b = candidate("b", { priority: 5 });
    const c = candidate("c", { priority: 3 });
    await time.advanceBy(2 * timing.retryPeriodMs);
    expect(await a.handOver()).toMatchObject({ successor: "b" });
    await time.advanceBy(0);
    expect(leaders()).toEqual([b]);
    // b leads now; a and c compete for the record (c is stronger) within a retry period or two.
    await time.advanceBy(2 * timing.retryPeriodMs);
    expect(await b.handOver()).toMatchObject({ successor: "c" });
    await time.advanceBy(0);
    expect(leaders()).toEqual([c]);
    // c leaves, releasing; b's claim is current again after a round, and a stopped candidate is never chosen.
    await time.advanceBy(2 * timing.retryPeriodMs);
    const stopping = c.stop();
    await time.advanceBy(timing.leaseDurationMs + timing.retryPeriodMs);
    await stopping;
    const next = leaders()[0];
    expect(next === a || next === b).toBe(true);
    await time.advanceBy(2 * timing.retryPeriodMs);
    const other = next === a ? "b" : "a";
    expect(await next?.handOver()).toMatchObject({ successor: other });
    log.assertSafe();
  });

  it("never chooses a candidate that stopped: stop() clears its claim, and the next one takes the record", async () => {
    const { time, candidate, leaders } = setup();
    const a = candidate("a", { priority: 1 });
    await time.advanceBy(0);
    const b = candidate("b", { priority: 5 });
    const c = candidate("c", { priority: 3 });
    await time.advanceBy(2 * timing.retryPeriodMs);
    await b.stop();
    // Well within b's lease: only the cleared claim tells the others that b is gone.
    await time.advanceBy(2 * timing.retryPeriodMs);
    expect(await a.handOver()).toMatchObject({ successor: "c" });
    await time.advanceBy(0);
    expect(leaders()).toEqual([c]);
  });

  it("rejects with INVALID_ARGUMENT, changing nothing, when no candidate with a priority is running", async () => {
    const { time, candidate } = setup();
    const plain = candidate("plain");
    await time.advanceBy(0);
    await expect(plain.handOver()).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringContaining("successor"),
    });
    expect(plain.isLeader()).toBe(true);
    await plain.stop();

    const second = setup();
    const alone = second.candidate("alone", { priority: 4 });
    await second.time.advanceBy(3 * timing.retryPeriodMs);
    await expect(alone.handOver()).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(alone.isLeader()).toBe(true);
  });

  it("does not choose a candidate whose claim stopped changing for a lease (it crashed)", async () => {
    const { time, candidate } = setup();
    const a = candidate("a", { priority: 1 });
    await time.advanceBy(0);
    const b = candidate("b", { priority: 5 });
    await time.advanceBy(2 * timing.retryPeriodMs);
    await b.stop({ release: false }); // a crash: the claim stays, and stops changing
    await time.advanceBy(timing.leaseDurationMs + timing.retryPeriodMs);
    await expect(a.handOver()).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(a.isLeader()).toBe(true);
  });
});

describe("preemption", () => {
  it("a leader yields to a stronger candidate only after the stability delay, and leadership does not flap", async () => {
    const { time, candidate, leaders, log, electors } = setup();
    const low = candidate("low", { priority: 1, preemptAfterMs: 10_000 });
    await time.advanceBy(0);
    expect(low.isLeader()).toBe(true);
    const high = candidate("high", { priority: 9, preemptAfterMs: 10_000 });
    await time.advanceBy(10_000);
    // Seen for less than the delay: still the same leader.
    expect(leaders()).toEqual([low]);
    await time.advanceBy(2 * timing.retryPeriodMs + 1);
    expect(leaders()).toEqual([high]);
    const reasons: string[] = [];
    for (const elector of electors) {
      elector.subscribe((event) => {
        if (event.type === "stopped-leading") reasons.push(event.reason);
      });
    }
    await time.advanceBy(10 * timing.leaseDurationMs);
    expect(leaders()).toEqual([high]);
    expect(reasons).toEqual([]);
    expect(log.intervals().map((interval) => interval.candidate)).toEqual(["low", "high"]);
    log.assertSafe();
  });

  it("does not yield to a candidate that left before the delay ended", async () => {
    const { time, candidate, leaders } = setup();
    const low = candidate("low", { priority: 1, preemptAfterMs: 10_000 });
    await time.advanceBy(0);
    const high = candidate("high", { priority: 9 });
    await time.advanceBy(4_000);
    await high.stop({ release: false });
    await time.advanceBy(5 * timing.leaseDurationMs);
    expect(leaders()).toEqual([low]);
  });

  it("never yields without preemptAfterMs, nor to an equal or lower priority", async () => {
    const { time, candidate, leaders } = setup();
    const first = candidate("first", { priority: 5 });
    await time.advanceBy(0);
    candidate("stronger", { priority: 9 });
    const equal = setup();
    const holder = equal.candidate("holder", { priority: 5, preemptAfterMs: 0 });
    await equal.time.advanceBy(0);
    equal.candidate("peer", { priority: 5 });
    await time.advanceBy(5 * timing.leaseDurationMs);
    await equal.time.advanceBy(5 * timing.leaseDurationMs);
    expect(leaders()).toEqual([first]);
    expect(equal.leaders()).toEqual([holder]);
  });

  it("checks the options: preemptAfterMs needs a priority, priorities are non-negative integers", () => {
    const store = new NamedStores();
    const make = (options: Partial<ElectorOptions>) =>
      new Elector({ store, name: "ranked", identity: "x", ...timing, ...options });
    expect(() => make({ preemptAfterMs: 1000 })).toThrow(/preemptAfterMs.*priority/);
    expect(() => make({ priority: 1, preemptAfterMs: -1 })).toThrow(/preemptAfterMs/);
    expect(() => make({ priority: -1 })).toThrow(/priority/);
    expect(() => make({ priority: 1.5 })).toThrow(/priority/);
    expect(() => make({ priority: 3, preemptAfterMs: 0 })).not.toThrow();
  });
});
