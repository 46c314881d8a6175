import { describe, expect, it } from "vitest";
import type { ElectorEvent, LeaderRecord, LockStore, Snapshot } from "../src/index.js";
import { ConflictError, Elector, InvalidArgumentError } from "../src/index.js";
import { VirtualTime } from "../src/testing/index.js";

/**
 * A minimal in-test store without watch (the memory package is the real in-process store; the
 * engine's own tests must not depend on it). `hang` makes calls never answer.
 */
class FakeStore implements LockStore {
  readonly backend = "fake";
  readonly capabilities = { watch: false, leaseGranularityMs: 1 };
  hang = false;
  writes = 0;
  reads = 0;
  #snapshot: Snapshot | null = null;
  #version = 0;

  async get(): Promise<Snapshot | null> {
    this.reads++;
    return this.#answer(this.#snapshot);
  }
  async create(_name: string, record: LeaderRecord): Promise<Snapshot> {
    if (this.#snapshot !== null) throw new ConflictError("exists");
    return this.#write(record);
  }
  async update(_name: string, record: LeaderRecord, expectedVersion: string): Promise<Snapshot> {
    if (this.#snapshot?.version !== expectedVersion) throw new ConflictError("moved");
    return this.#write(record);
  }
  async close(): Promise<void> {}
  current(): Snapshot | null {
    return this.#snapshot;
  }
  #write(record: LeaderRecord): Promise<Snapshot> {
    this.writes++;
    if (this.hang) return new Promise(() => {});
    this.#snapshot = { version: String(++this.#version), record };
    return Promise.resolve(this.#snapshot);
  }
  #answer<T>(value: T): Promise<T> {
    return this.hang ? new Promise(() => {}) : Promise.resolve(value);
  }
}

const timing = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

function setup() {
  const time = new VirtualTime();
  const clock = time.clock();
  const store = new FakeStore();
  const events: ElectorEvent[] = [];
  const calls: string[] = [];
  let signal: AbortSignal | undefined;
  const elector = new Elector({
    store,
    clock,
    name: "example",
    identity: "pod-a",
    ...timing,
    onStartedLeading: (leadership) => {
      signal = leadership.signal;
      calls.push(`started:${leadership.fencingToken}`);
      leadership.signal.addEventListener("abort", () => calls.push("aborted"));
    },
    onStoppedLeading: ({ reason }) => calls.push(`stopped:${reason}:${String(signal?.aborted)}`),
    onNewLeader: (identity) => calls.push(`new:${identity}`),
  });
  elector.subscribe((event) => events.push(event));
  return { time, clock, store, elector, events, calls };
}

describe("Elector", () => {
  it("leads alone, calls back in order and renews each retry period with one write and no read", async () => {
    const { time, store, elector, calls } = setup();
    elector.start();
    await time.advanceBy(0);
    expect(elector.isLeader()).toBe(true);
    expect(elector.leader()).toBe("pod-a");
    expect(elector.fencingToken()).toBe(0);
    expect(calls).toEqual(["started:0", "new:pod-a"]);
    const before = { reads: store.reads, writes: store.writes };
    await time.advanceBy(20_500);
    expect(store.writes - before.writes).toBe(10);
    expect(store.reads - before.reads).toBe(0);
    await elector.stop({ release: false });
  });

  it("aborts the leadership signal before isLeader() answers false after a stalled event loop", async () => {
    const { time, clock, store, elector, calls } = setup();
    elector.start();
    await time.advanceBy(0);
    store.hang = true;
    clock.pause(); // the event loop stalls: no timer runs
    await time.advanceBy(30_000);
    expect(calls).not.toContain("aborted");
    expect(elector.isLeader()).toBe(false); // the first look after waking steps down...
    expect(calls.slice(-2)).toEqual(["aborted", "stopped:renew-deadline:true"]); // ...signal first
    clock.resume();
    await time.advanceBy(0);
    await elector.stop({ release: false });
  });

  it("times out a store call that never answers, and steps down at the renew deadline", async () => {
    const { time, store, elector, events } = setup();
    elector.start();
    await time.advanceBy(0);
    store.hang = true;
    await time.advanceBy(2_000 + 5_000 + 1); // renewal sent at 2 s, timed out 5 s later
    const error = events.find((event) => event.type === "store-error");
    expect(error?.type === "store-error" && error.error.code).toBe("UNAVAILABLE");
    expect(elector.isLeader()).toBe(true);
    await time.advanceBy(3_000);
    expect(elector.isLeader()).toBe(false);
    const step = events.find((event) => event.type === "stopped-leading");
    expect(step).toMatchObject({ reason: "renew-deadline" });
    // Stepped down exactly renewDeadline after the last successful write was sent (at 0).
    expect(step?.atMs).toBeCloseTo(10_000, 2);
    await elector.stop({ release: false });
  });

  it("releases on stop, and stop resolves even when the store hangs", async () => {
    const { time, store, elector } = setup();
    elector.start();
    await time.advanceBy(0);
    const stopped = elector.stop();
    await time.advanceBy(0);
    await stopped;
    expect(store.current()?.record?.holderIdentity).toBe("");

    const second = setup();
    second.elector.start();
    await second.time.advanceBy(0);
    second.store.hang = true;
    let done = false;
    void second.elector.stop().then(() => {
      done = true;
    });
    await second.time.advanceBy(5_001); // one operation timeout (renewDeadline / 2)
    expect(done).toBe(true);
  });

  it("ends its event iterator after stopping", async () => {
    const { time, elector } = setup();
    const seen: string[] = [];
    const consumer = (async () => {
      for await (const event of elector.events()) seen.push(event.type);
    })();
    elector.start();
    await time.advanceBy(0);
    await elector.stop({ release: false });
    await consumer;
    expect(seen).toEqual(["started-leading", "leader-changed", "stopped-leading", "stopped"]);
  });

  it("refuses to start again after stop with CLOSED", async () => {
    const { elector } = setup();
    await elector.stop();
    expect(() => elector.start()).toThrow(expect.objectContaining({ code: "CLOSED" }));
  });

  it("validates options up front with errors that name the field", () => {
    const store = new FakeStore();
    expect(() => new Elector({ store, name: "ok", identity: "a", leaseDurationMs: 5000 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => new Elector({ store, name: "ok", identity: "a\nb" })).toThrow(/identity/);
    expect(() => new Elector({ store, name: "Bad_Name", identity: "a" })).toThrow(/DNS-1123/);
  });
});
