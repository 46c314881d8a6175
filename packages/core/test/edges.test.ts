/**
 * The edges a program meets: what it is told (leader, leadership, token) must be true when it asks,
 * an observer's bug must not stop the election, and no loop may spin or wait without a bound. Each
 * case here failed before the fix it guards.
 */
import { getEventListeners } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import { EventHub } from "../src/events.js";
import type { Clock, ElectorEvent, ElectorOptions, Leadership, Logger } from "../src/index.js";
import { Elector, systemClock, TenureError } from "../src/index.js";
import type { ManualClock } from "../src/testing/index.js";
import { VirtualTime } from "../src/testing/index.js";
import { FakeStore } from "./support/fake-store.js";

const timing = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
const record = (holderIdentity: string, leaderTransitions = 4) => ({
  holderIdentity,
  leaseDurationSeconds: 15,
  acquireTime: "2026-01-01T00:00:00Z",
  renewTime: "2026-01-01T00:00:00Z",
  leaderTransitions,
});

const running: Elector[] = [];
afterEach(async () => {
  for (const elector of running.splice(0)) void elector.stop({ release: false });
});

function candidate(
  store: FakeStore,
  clock: Clock,
  identity: string,
  options: Partial<ElectorOptions> = {},
): Elector {
  const elector = new Elector({ store, clock, name: "example", identity, ...timing, ...options });
  running.push(elector);
  return elector;
}

/** A clock that can jump forward synchronously, as a process's clock does across a slow synchronous call. */
class JumpingClock implements Clock {
  #jumpedMs = 0;
  constructor(readonly inner: ManualClock) {}
  now(): number {
    return this.inner.now() + this.#jumpedMs;
  }
  wallTime(): Date {
    return new Date(this.inner.wallTime().getTime() + this.#jumpedMs);
  }
  setTimer(delayMs: number, callback: () => void): () => void {
    return this.inner.setTimer(delayMs, callback);
  }
  /** Time passes inside synchronous code: readings move, nothing else runs. */
  jump(ms: number): void {
    this.#jumpedMs += ms;
  }
}

describe("what the program is told is true now", () => {
  it("a follower that stops hearing from the store stops naming the leader when the observed lease ends", async () => {
    const time = new VirtualTime();
    const store = new FakeStore();
    store.put(record("other"));
    const elector = candidate(store, time.clock(), "me").start();
    const changes: (string | null)[] = [];
    elector.subscribe((event) => {
      if (event.type === "leader-changed") changes.push(event.leader);
    });
    await time.advanceBy(0);
    expect(elector.leader()).toBe("other");
    expect(elector.currentLeader()).toMatchObject({ identity: "other", self: false, validUntilMs: 15_000 });
    store.hang = true; // cut off: no read answers, so the lease cannot be seen renewed
    await time.advanceBy(14_999);
    expect(elector.leader()).toBe("other");
    expect(elector.currentLeader().remainingMs).toBe(1);
    await time.advanceBy(1);
    expect(elector.leader()).toBeNull();
    expect(elector.currentLeader()).toMatchObject({ identity: null, self: false, validUntilMs: null });
    expect(changes).toEqual(["other", null]);
  });

  it("a leader cut off from the store stops naming itself at its renew deadline, though the record still names it", async () => {
    const time = new VirtualTime();
    const store = new FakeStore();
    const elector = candidate(store, time.clock(), "me").start();
    await time.advanceBy(0);
    expect(elector.currentLeader()).toMatchObject({ identity: "me", self: true, validUntilMs: 10_000 });
    store.hang = true;
    await time.advanceBy(10_000);
    expect(store.current()?.record?.holderIdentity).toBe("me");
    expect(elector.leader()).toBeNull();
    expect(elector.status().leader).toBeNull();
  });

  it("a restarted candidate never names itself leader from its previous life's record", async () => {
    const time = new VirtualTime();
    const store = new FakeStore();
    store.put(record("me"));
    const elector = candidate(store, time.clock(), "me").start();
    await time.advanceBy(0);
    expect(elector.isLeader()).toBe(false);
    expect(elector.leader()).toBeNull();
  });
});

describe("an observer's bug never stops the election", () => {
  async function releasedLockIsTaken(options: Partial<ElectorOptions>, subscribe?: (e: Elector) => void) {
    const time = new VirtualTime();
    const store = new FakeStore();
    const first = candidate(store, time.clock(), "first").start();
    await time.advanceBy(0);
    expect(first.isLeader()).toBe(true);
    const second = candidate(store, time.clock(), "second", options);
    subscribe?.(second);
    second.start();
    await time.advanceBy(0);
    expect(second.leader()).toBe("first");
    await first.stop(); // releases: holder ""
    await time.advanceBy(timing.retryPeriodMs + 1); // the follower polls and sees the release
    expect(second.isLeader()).toBe(true);
    return second;
  }

  it("a subscribe listener that throws on a release", async () => {
    const errors: ElectorEvent[] = [];
    const second = await releasedLockIsTaken({}, (elector) => {
      elector.subscribe((event) => {
        if (event.type === "leader-changed" && event.leader === null) throw new Error("listener bug");
      });
      elector.subscribe((event) => {
        if (event.type === "observer-error") errors.push(event);
      });
    });
    expect(second.isLeader()).toBe(true);
    expect(errors).toMatchObject([{ type: "observer-error", source: "listener" }]);
  });

  it("a logger that throws", async () => {
    const throwing: Logger = {
      debug() {},
      info() {
        throw new Error("logger bug");
      },
      warn() {
        throw new Error("logger bug");
      },
      error() {
        throw new Error("logger bug");
      },
    };
    const warning = vi.spyOn(process, "emitWarning").mockImplementation(() => {});
    try {
      await releasedLockIsTaken({ logger: throwing });
      expect(warning).toHaveBeenCalledTimes(1); // reported once, not on every line
    } finally {
      warning.mockRestore();
    }
  });

  it("callbacks that throw", async () => {
    const fail = () => {
      throw new Error("callback bug");
    };
    const second = await releasedLockIsTaken({ onNewLeader: fail, onStartedLeading: fail });
    expect(second.fencingToken()).not.toBeNull();
  });
});

describe("the leadership handed to onStartedLeading", () => {
  it("is a computed check: after a stalled event loop it is invalid before any timer runs", async () => {
    const time = new VirtualTime();
    const clock = time.clock();
    const store = new FakeStore();
    let leadership: Leadership | undefined;
    candidate(store, clock, "me", {
      onStartedLeading: (given) => {
        leadership = given;
      },
    }).start();
    await time.advanceBy(0);
    if (leadership === undefined) throw new Error("did not lead");
    expect(leadership.isValid()).toBe(true);
    expect(leadership.validUntilMs()).toBe(10_000);
    expect(leadership.remainingMs()).toBe(10_000);
    store.hang = true;
    clock.pause(); // the event loop stalls: no timer runs, the clock moves on
    await time.advanceBy(12_000);
    // Code resumed by I/O now sees a signal the stall kept from aborting: the documented limit.
    expect(leadership.signal.aborted).toBe(false);
    // The check reads the clock, and ends the term on the spot.
    expect(leadership.remainingMs()).toBe(0);
    expect(leadership.isValid()).toBe(false);
    expect(leadership.signal.aborted).toBe(true);
    expect(() => leadership?.assertValid()).toThrow(expect.objectContaining({ code: "NOT_LEADER" }));
    clock.resume();
    await time.advanceBy(0);
  });

  it("stays invalid after the term ends, even when the candidate leads again", async () => {
    const time = new VirtualTime();
    const store = new FakeStore();
    const terms: Leadership[] = [];
    const elector = candidate(store, time.clock(), "me", {
      onStartedLeading: (given) => {
        terms.push(given);
      },
    }).start();
    await time.advanceBy(0);
    store.hang = true;
    await time.advanceBy(10_000);
    store.hang = false;
    await time.advanceBy(timing.leaseDurationMs + timing.retryPeriodMs);
    expect(elector.isLeader()).toBe(true);
    expect(terms).toHaveLength(2);
    expect(terms[0]?.isValid()).toBe(false);
    expect(terms[1]?.isValid()).toBe(true);
    expect(terms[1]?.fencingToken).toBeGreaterThan(terms[0]?.fencingToken ?? Number.POSITIVE_INFINITY);
  });

  it("aborts at the deadline even when a slow synchronous callback ran first", async () => {
    const time = new VirtualTime();
    const clock = new JumpingClock(time.clock());
    const store = new FakeStore();
    let signal: AbortSignal | undefined;
    candidate(store, clock, "me", {
      onStartedLeading: (leadership) => {
        signal = leadership.signal;
        store.hang = true; // no renewal will succeed
        clock.jump(9_000); // nine seconds of synchronous work
      },
    }).start();
    await time.advanceBy(0);
    expect(signal?.aborted).toBe(false);
    // The clock reads 9 000; the deadline is 10 000 (the acquisition was sent at 0).
    await time.advanceBy(1_000.5);
    expect(clock.now()).toBeCloseTo(10_000.5, 3);
    expect(signal?.aborted).toBe(true);
  });
});

describe("fencing tokens", () => {
  it("carries the token the store wrote when it raised it", async () => {
    const time = new VirtualTime();
    const store = new FakeStore();
    store.createTokenFloor = 100;
    const elector = candidate(store, time.clock(), "me").start();
    await time.advanceBy(0);
    expect(elector.fencingToken()).toBe(100);
    expect(store.current()?.record?.leaderTransitions).toBe(100);
  });
});

describe("a deleted lock is not a released one", () => {
  async function deletedWhileHeld(tombstones: boolean, watch: boolean) {
    const time = new VirtualTime();
    const store = new FakeStore({ watch });
    store.tombstones = tombstones;
    store.put(record("other", 7));
    const elector = candidate(store, time.clock(), "me").start();
    await time.advanceBy(0);
    expect(elector.leader()).toBe("other");
    await time.advanceBy(1_000);
    store.delete(); // as `kubectl delete lease` would, while "other" may still act
    const deletedAt = time.now();
    const led = await time.advanceUntil(() => elector.isLeader(), 60_000);
    expect(led).toBe(true);
    return { takenAfterMs: time.now() - deletedAt, elector };
  }

  it("a watcher that sees the deletion waits one lease from the sighting before creating", async () => {
    const { takenAfterMs, elector } = await deletedWhileHeld(false, true);
    expect(takenAfterMs).toBeGreaterThanOrEqual(timing.leaseDurationMs);
    expect(takenAfterMs).toBeLessThan(timing.leaseDurationMs + timing.retryPeriodMs);
    expect(elector.fencingToken()).toBeGreaterThan(7);
  });

  it("a tombstone read by a candidate that never saw the lock counts the same way", async () => {
    const time = new VirtualTime();
    const store = new FakeStore({ callLimit: 500 });
    store.tombstones = true;
    store.put(record("other", 7));
    store.delete();
    const elector = candidate(store, time.clock(), "fresh").start();
    await time.advanceBy(timing.leaseDurationMs - 1);
    expect(elector.isLeader()).toBe(false);
    await time.advanceBy(2);
    expect(elector.isLeader()).toBe(true);
  });
});

describe("no loop spins, no wait is unbounded", () => {
  it("backs off when reads lag writes instead of repeating conflict, read, compare-and-swap", async () => {
    const time = new VirtualTime();
    const store = new FakeStore({ callLimit: 500 });
    const stale = store.put(record("other", 7));
    const elector = candidate(store, time.clock(), "me").start();
    await time.advanceBy(0);
    store.put(record("other", 7)); // the holder renews...
    store.staleRead = stale; // ...but reads keep answering the old version
    await time.advanceBy(timing.leaseDurationMs + timing.retryPeriodMs);
    expect(elector.isLeader()).toBe(false);
    // One takeover attempt, then reads spaced by a growing backoff: a handful, not hundreds.
    expect(store.conflicts).toBeLessThanOrEqual(6);
  });

  it("times a lease longer than setTimeout's 24.8-day limit without firing early", async () => {
    let fired = 0;
    const cancel = systemClock.setTimer(2 ** 31 + 10_000, () => fired++);
    await new Promise((resolve) => setTimeout(resolve, 50));
    cancel();
    expect(fired).toBe(0);
  });

  it("fires a timer longer than setTimeout's limit at its time", () => {
    vi.useFakeTimers();
    try {
      let fired = 0;
      systemClock.setTimer(2 ** 31 + 10_000, () => fired++);
      vi.advanceTimersByTime(2 ** 31 - 1);
      expect(fired).toBe(0);
      vi.advanceTimersByTime(10_000);
      expect(fired).toBe(0);
      vi.advanceTimersByTime(1);
      expect(fired).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it("releases a lock won by an acquisition that was in flight when stop() was called", async () => {
    const time = new VirtualTime();
    const store = new FakeStore();
    store.holdWrites();
    const elector = candidate(store, time.clock(), "me").start();
    await time.advanceBy(0); // read: absent; the create is on its way
    let stopped = false;
    void elector.stop().then(() => {
      stopped = true;
    });
    store.releaseWrites(); // the create lands
    await time.advanceBy(0);
    expect(stopped).toBe(true);
    expect(elector.isLeader()).toBe(false);
    expect(store.current()?.record?.holderIdentity).toBe(""); // released, not held for a lease
  });

  it("opens no watch for a candidate that finds the lock free and takes it", async () => {
    const time = new VirtualTime();
    const store = new FakeStore({ watch: true });
    const elector = candidate(store, time.clock(), "me").start();
    await time.advanceBy(5 * timing.retryPeriodMs);
    expect(elector.isLeader()).toBe(true);
    expect(store.watchSignals).toHaveLength(0);
  });

  it("watches once its first read shows another holder", async () => {
    const time = new VirtualTime();
    const store = new FakeStore({ watch: true });
    store.put(record("other"));
    const follower = candidate(store, time.clock(), "me").start();
    await time.advanceBy(0);
    expect(follower.isLeader()).toBe(false);
    expect(store.watchSignals).toHaveLength(1);
  });

  it("leaves no abort listener behind per watch restart", async () => {
    const time = new VirtualTime();
    const store = new FakeStore({ watch: true });
    store.breakWatches = true;
    candidate(store, time.clock(), "me").start();
    // The holder keeps renewing, so the candidate stays a follower and watches.
    for (let period = 0; period < 10; period++) {
      store.put(record("other"));
      await time.advanceBy(timing.retryPeriodMs);
    }
    const signal = store.watchSignals[0];
    expect(store.watchSignals.length).toBeGreaterThanOrEqual(10);
    expect(signal && getEventListeners(signal, "abort").length).toBeLessThanOrEqual(1);
  });

  it("bounds what an unread events() iterator buffers, and says so", async () => {
    const hub = new EventHub<number>();
    const iterator = hub.iterate({ maxBuffered: 3 });
    for (let event = 0; event < 10; event++) hub.emit(event);
    await expect(iterator.next()).resolves.toEqual({ done: false, value: 0 });
    await iterator.next();
    await iterator.next();
    const overflow = await iterator.next().catch((error: unknown) => error);
    expect(TenureError.is(overflow, "OVERFLOW")).toBe(true);
    await expect(iterator.next()).resolves.toEqual({ done: true, value: undefined });
  });
});

describe("status for readiness", () => {
  it("keeps reporting refused writes while reads keep working", async () => {
    const time = new VirtualTime();
    const store = new FakeStore();
    store.refuseWrites = true;
    const elector = candidate(store, time.clock(), "me").start();
    for (let round = 0; round < 5; round++) {
      await time.advanceBy(timing.retryPeriodMs / 2);
      // Between a successful read and the next refused create, too.
      expect(elector.status().lastStoreError?.code).toBe("PERMISSION_DENIED");
    }
    expect(store.reads).toBeGreaterThan(2);
  });

  it("reports the last store failure until a call succeeds", async () => {
    const time = new VirtualTime();
    const store = new FakeStore();
    const elector = candidate(store, time.clock(), "me").start();
    await time.advanceBy(0);
    expect(elector.status().lastStoreError).toBeNull();
    store.hang = true;
    await time.advanceBy(timing.retryPeriodMs + timing.renewDeadlineMs / 2 + 1);
    expect(elector.status().lastStoreError?.code).toBe("UNAVAILABLE");
    store.hang = false;
    await time.advanceBy(timing.retryPeriodMs);
    expect(elector.status().lastStoreError).toBeNull();
  });
});
