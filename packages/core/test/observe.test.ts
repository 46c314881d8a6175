import { describe, expect, it } from "vitest";
import type { LeaderObservation, ObserveItem, ObserveOptions } from "../src/index.js";
import { Elector, InvalidArgumentError, observe } from "../src/index.js";
import { VirtualTime } from "../src/testing/index.js";
import { FakeStore } from "./support/fake-store.js";

const timing = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** Drains an observe stream into an array in the background. */
function collect(iterator: AsyncIterableIterator<ObserveItem>) {
  const items: ObserveItem[] = [];
  let failure: unknown;
  const done = (async () => {
    try {
      for await (const item of iterator) items.push(item);
    } catch (error) {
      failure = error;
    }
  })();
  const leaders = (): LeaderObservation[] =>
    items.filter((item): item is LeaderObservation => item.type === "leader");
  return { items, leaders, done, failure: () => failure };
}

function setup(watch: boolean, options: ObserveOptions = {}) {
  const time = new VirtualTime();
  const store = new FakeStore({ watch });
  const abort = new AbortController();
  const candidate = (identity: string) =>
    new Elector({ store, clock: time.clock(), name: "example", identity, ...timing });
  const start = () =>
    collect(observe(store, "example", { clock: time.clock(), signal: abort.signal, ...options }));
  return { time, store, abort, candidate, start };
}

/** Every safe-to-act end a leader reached, by identity, from its own events. */
function trackTerms(elector: Elector): { safeUntilMs: number } {
  const term = { safeUntilMs: Number.NEGATIVE_INFINITY };
  elector.subscribe((event) => {
    if (event.type === "started-leading" || event.type === "renewed") term.safeUntilMs = event.safeUntilMs;
  });
  return term;
}

describe.each([
  ["with watch", true],
  ["polling", false],
])("observe (%s)", (_label, watch) => {
  it("names the holder at once, vouches for it once it sees a write, and never past the truth", async () => {
    const { time, store, abort, candidate, start } = setup(watch);
    const a = candidate("pod-a").start();
    const term = trackTerms(a);
    await time.advanceUntil(() => a.isLeader(), 5_000);
    const stream = start();
    await time.advanceBy(100);
    expect(stream.leaders()[0]).toMatchObject({ reason: "initial", leader: null, holder: "pod-a", token: 0 });
    // The next renewal is a change the observer saw happen: from then on it names pod-a.
    await time.advanceBy(timing.retryPeriodMs + 1_100);
    const vouched = stream.leaders().find((item) => item.leader === "pod-a");
    expect(vouched).toMatchObject({ holder: "pod-a", token: 0 });
    // Through a minute of renewals, pod-a is named continuously, each answer within its real term.
    const writesBefore = store.writes;
    await time.advanceBy(60_000);
    const later = stream.leaders().filter((item) => item.atMs > (vouched?.atMs ?? 0));
    expect(later.length).toBeGreaterThan(10);
    expect(later.every((item) => item.leader === "pod-a" && item.reason === "renewed")).toBe(true);
    for (const item of later) expect(item.validUntilMs).toBeLessThanOrEqual(term.safeUntilMs);
    // Every write came from the elector (one renewal per retry period), none from the observer.
    expect(store.writes - writesBefore).toBe(30);

    // The leader crashes (no release): the observer drops it before its term could have ended.
    const lastRenewal = term.safeUntilMs;
    await a.stop({ release: false });
    const lapsed = await untilLeader(time, stream, (item) => item.reason === "lapsed");
    expect(lapsed).toMatchObject({ leader: null, holder: "pod-a" });
    expect(lapsed.atMs).toBeLessThanOrEqual(lastRenewal);
    for (const item of stream.leaders()) {
      if (item.validUntilMs !== null) expect(item.validUntilMs).toBeLessThanOrEqual(lastRenewal);
    }
    abort.abort();
    await stream.done;
  });

  it("says 'no leader' when the leader releases, then names the next one with its token", async () => {
    const { time, abort, candidate, start } = setup(watch, { pollIntervalMs: 500 });
    const a = candidate("pod-a").start();
    await time.advanceUntil(() => a.isLeader(), 5_000);
    const stream = start();
    await untilLeader(time, stream, (item) => item.leader === "pod-a");
    const releasedAt = time.now();
    await a.stop();
    const released = await untilLeader(time, stream, (item) => item.reason === "released");
    expect(released).toMatchObject({ leader: null, holder: null, token: 0, validUntilMs: null });
    // A watch reports it within the round trip; polling within one poll interval.
    expect(released.atMs - releasedAt).toBeLessThanOrEqual(watch ? 1 : 501);

    const b = candidate("pod-b").start();
    const next = await untilLeader(time, stream, (item) => item.leader === "pod-b");
    expect(next.token).toBe(b.fencingToken());
    expect(next.token).toBeGreaterThan(0);
    abort.abort();
    await stream.done;
    await b.stop();
  });

  it("reports store errors as typed items and keeps going", async () => {
    const { time, store, abort, candidate, start } = setup(watch, { operationTimeoutMs: 1_000 });
    const a = candidate("pod-a").start();
    await time.advanceUntil(() => a.isLeader(), 5_000);
    const stream = start();
    await untilLeader(time, stream, (item) => item.leader === "pod-a");
    store.hang = true;
    await time.advanceBy(timing.retryPeriodMs + 1_500);
    const error = stream.items.find((item) => item.type === "error");
    expect(error).toMatchObject({ type: "error", operation: "get", error: { code: "UNAVAILABLE" } });
    // Without answers the observer cannot vouch for anyone for long: it lapses to no leader.
    await time.advanceBy(timing.leaseDurationMs);
    expect(stream.leaders().at(-1)).toMatchObject({ leader: null, reason: "lapsed" });
    store.hang = false;
    await untilLeader(time, stream, (item) => item.leader === "pod-a");
    abort.abort();
    await stream.done;
    expect(stream.failure()).toBeUndefined();
    await a.stop();
  });
});

async function untilLeader(
  time: VirtualTime,
  stream: ReturnType<typeof collect>,
  predicate: (item: LeaderObservation) => boolean,
): Promise<LeaderObservation> {
  const seen = stream.leaders().length;
  const found = (): LeaderObservation | undefined => stream.leaders().slice(seen).find(predicate);
  expect(await time.advanceUntil(() => found() !== undefined, 60_000)).toBe(true);
  const item = found();
  if (item === undefined) throw new Error("unreachable");
  return item;
}

describe("observe", () => {
  it("throws the store error with stopOnError", async () => {
    const time = new VirtualTime();
    const store = new FakeStore();
    store.hang = true;
    const stream = collect(
      observe(store, "example", { clock: time.clock(), operationTimeoutMs: 1_000, stopOnError: true }),
    );
    await time.advanceBy(1_500);
    await stream.done;
    expect(stream.failure()).toMatchObject({ code: "UNAVAILABLE" });
  });

  it("ends on return() and on its signal, leaving no timer behind", async () => {
    const time = new VirtualTime();
    const store = new FakeStore();
    const iterator = observe(store, "example", { clock: time.clock() });
    expect(await iterator.next()).toMatchObject({
      done: false,
      value: { reason: "initial", leader: null, holder: null },
    });
    expect(await iterator.return?.()).toEqual({ value: undefined, done: true });
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
    await time.advanceBy(10_000);
    expect(time.pendingTimers()).toBe(0);
    expect(store.writes).toBe(0);

    const abort = new AbortController();
    const watched = new FakeStore({ watch: true });
    const stream = collect(observe(watched, "example", { clock: time.clock(), signal: abort.signal }));
    await time.advanceBy(100);
    abort.abort();
    await stream.done;
    expect(watched.watchSignals.every((signal) => signal.aborted)).toBe(true);
    await time.advanceBy(10_000);
    expect(time.pendingTimers()).toBe(0);
  });

  it("rejects bad options naming the field", () => {
    const store = new FakeStore();
    expect(() => observe(store, "example", { pollIntervalMs: 0 })).toThrow(InvalidArgumentError);
    expect(() => observe(store, "example", { pollIntervalMs: 0 })).toThrow("pollIntervalMs");
    expect(() => observe(store, "example", { leaderValidityMs: -5 })).toThrow("leaderValidityMs");
    expect(() => observe(store, "Not A Name")).toThrow(InvalidArgumentError);
  });
});
