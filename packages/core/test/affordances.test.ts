/**
 * The conveniences a modern program expects: `await using`, an AbortSignal that bounds the
 * elector's life, a promise of leadership, stepping down while staying a candidate, and a
 * liveness check for an HTTP server.
 */
import { describe, expect, it } from "vitest";
import type { Clock } from "../src/index.js";
import { createHealthCheck, Elector } from "../src/index.js";
import { VirtualTime } from "../src/testing/index.js";
import { FakeStore } from "./support/fake-store.js";

const timing = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

function candidate(store: FakeStore, clock: Clock, identity: string, signal?: AbortSignal): Elector {
  return new Elector({
    store,
    clock,
    name: "example",
    identity,
    ...timing,
    ...(signal === undefined ? {} : { signal }),
  });
}

describe("Elector affordances", () => {
  it("stops and releases when an `await using` scope ends", async () => {
    const time = new VirtualTime();
    const store = new FakeStore();
    let elector: Elector | undefined;
    {
      await using scoped = candidate(store, time.clock(), "me").start();
      elector = scoped;
      await time.advanceBy(0);
      expect(scoped.isLeader()).toBe(true);
    }
    expect(elector.status().role).toBe("stopped");
    expect(store.current()?.record?.holderIdentity).toBe("");
  });

  it("stops when its signal aborts, and never starts on an aborted one", async () => {
    const time = new VirtualTime();
    const store = new FakeStore();
    const abort = new AbortController();
    const elector = candidate(store, time.clock(), "me", abort.signal).start();
    await time.advanceBy(0);
    expect(elector.isLeader()).toBe(true);
    abort.abort();
    await elector.stopped;
    expect(store.current()?.record?.holderIdentity).toBe("");

    const late = candidate(new FakeStore(), time.clock(), "late", abort.signal).start();
    await late.stopped;
    expect(late.status().role).toBe("stopped");
  });

  it("whenLeading() resolves with the leadership once this candidate leads", async () => {
    const time = new VirtualTime();
    const store = new FakeStore();
    const first = candidate(store, time.clock(), "first").start();
    await time.advanceBy(0);
    const second = candidate(store, time.clock(), "second").start();
    await time.advanceBy(0);
    let leadership: Awaited<ReturnType<Elector["whenLeading"]>> | undefined;
    void second.whenLeading().then((given) => {
      leadership = given;
    });
    await time.advanceBy(timing.retryPeriodMs);
    expect(leadership).toBeUndefined();
    await first.stop();
    await time.advanceBy(timing.retryPeriodMs + 1);
    expect(leadership?.isValid()).toBe(true);
    expect(leadership?.fencingToken).toBe(second.fencingToken());
    // Already leading: at once.
    await expect(second.whenLeading()).resolves.toBe(leadership);
    await second.stop({ release: false });
  });

  it("whenLeading() rejects when the elector stops first, or when its signal aborts", async () => {
    const time = new VirtualTime();
    const store = new FakeStore();
    store.put({
      holderIdentity: "other",
      leaseDurationSeconds: 15,
      acquireTime: "",
      renewTime: "",
      leaderTransitions: 1,
    });
    const elector = candidate(store, time.clock(), "me").start();
    await time.advanceBy(0);
    const abort = new AbortController();
    const waiting = elector.whenLeading({ signal: abort.signal });
    abort.abort(new Error("gave up"));
    await expect(waiting).rejects.toThrow("gave up");
    const stopping = elector.whenLeading();
    await elector.stop();
    await expect(stopping).rejects.toMatchObject({ code: "CLOSED" });
  });

  it("resign() hands the lock on at once and stays a candidate that leads again later", async () => {
    const time = new VirtualTime();
    const store = new FakeStore({ watch: true });
    const first = candidate(store, time.clock(), "first").start();
    await time.advanceBy(0);
    const second = candidate(store, time.clock(), "second").start();
    await time.advanceBy(0);
    const reasons: string[] = [];
    first.subscribe((event) => {
      if (event.type === "stopped-leading") reasons.push(event.reason);
    });
    await first.resign();
    await time.advanceBy(0);
    expect(reasons).toEqual(["resigned"]);
    expect(first.status().role).toBe("follower");
    expect(second.isLeader()).toBe(true);
    // The former leader is still a candidate: when the new one goes, it takes over.
    await second.stop();
    await time.advanceBy(timing.leaseDurationMs + timing.retryPeriodMs);
    expect(first.isLeader()).toBe(true);
    await first.stop({ release: false });
  });

  it("resign() holds off for the given time before competing again", async () => {
    const time = new VirtualTime();
    const store = new FakeStore({ watch: true });
    const alone = candidate(store, time.clock(), "alone").start();
    await time.advanceBy(0);
    await alone.resign({ holdOffMs: 5_000 });
    await time.advanceBy(4_999);
    expect(alone.isLeader()).toBe(false);
    await time.advanceBy(2);
    expect(alone.isLeader()).toBe(true);
    await alone.stop({ release: false });
  });

  it("createHealthCheck() fails only for a leader stuck without renewals", async () => {
    const time = new VirtualTime();
    const clock = time.clock();
    const store = new FakeStore();
    const elector = candidate(store, clock, "me").start();
    const health = createHealthCheck(elector, { clock, graceMs: 1_000 });
    await time.advanceBy(0);
    expect(health()).toEqual({ healthy: true, reason: "ok" });
    clock.pause(); // the elector's timers stop: stuck
    await time.advanceBy(3_000);
    expect(health().healthy).toBe(false);
    clock.resume();
    await time.advanceBy(0);
    expect(health()).toEqual({ healthy: true, reason: "ok" });
    await elector.stop({ release: false });
  });
});
