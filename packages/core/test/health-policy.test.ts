import { describe, expect, it } from "vitest";
import type { ElectorEvent, ElectorOptions, HealthPolicyOptions } from "../src/index.js";
import { Elector, InvalidArgumentError } from "../src/index.js";
import { LeadershipLog, VirtualTime } from "../src/testing/index.js";
import { FakeStore } from "./support/fake-store.js";

const timing = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** Two candidates on one fake store (with watch), each with its own switchable health. */
function cluster(health: Partial<HealthPolicyOptions> | undefined, options: { watch?: boolean } = {}) {
  const time = new VirtualTime();
  const store = new FakeStore({ watch: options.watch ?? true });
  const log = new LeadershipLog();
  const healthy = new Map<string, boolean>();
  const events = new Map<string, ElectorEvent[]>();
  const make = (identity: string): Elector => {
    healthy.set(identity, true);
    events.set(identity, []);
    const electorOptions: ElectorOptions = {
      store,
      clock: time.clock(),
      name: "example",
      identity,
      ...timing,
      ...(health === undefined
        ? {}
        : { health: { check: () => healthy.get(identity) ?? false, intervalMs: 1_000, ...health } }),
    };
    const elector = new Elector(electorOptions);
    log.attach(elector);
    elector.subscribe((event) => events.get(identity)?.push(event));
    return elector;
  };
  return { time, store, log, healthy, events, make };
}

describe("health-based step-down", () => {
  it("releases after N consecutive failures, and a healthy candidate takes over at once", async () => {
    const { time, store, log, healthy, events, make } = cluster({ failureThreshold: 3 });
    const a = make("pod-a").start();
    await time.advanceUntil(() => a.isLeader(), 5_000);
    const b = make("pod-b").start();
    await time.advanceBy(3_000);
    expect(a.isLeader()).toBe(true);

    healthy.set("pod-a", false);
    const cutAt = time.now();
    expect(await time.advanceUntil(() => b.isLeader(), 10_000)).toBe(true);
    // Three checks a second apart: the step-down comes with the third failure, the takeover at once.
    const stepDown = events.get("pod-a")?.find((event) => event.type === "stopped-leading");
    expect(stepDown).toMatchObject({ reason: "unhealthy" });
    expect((stepDown?.atMs ?? 0) - cutAt).toBeLessThanOrEqual(3_000);
    expect(time.now() - cutAt).toBeLessThanOrEqual(3_000);
    expect(events.get("pod-a")?.filter((event) => event.type === "health-check-failed")).toHaveLength(3);
    expect(events.get("pod-a")).toContainEqual(
      expect.objectContaining({ type: "health-changed", healthy: false }),
    );
    // The unhealthy candidate stays out: b keeps leading through many retry periods.
    await time.advanceBy(60_000);
    expect(b.isLeader()).toBe(true);
    expect(a.isLeader()).toBe(false);
    expect(store.current()?.record?.holderIdentity).toBe("pod-b");
    log.assertSafe();
    await Promise.all([a.stop(), b.stop()]);
  });

  it('"stop-renewing" steps down without writing: the takeover waits out the lease, with no overlap', async () => {
    const { time, store, log, healthy, events, make } = cluster({
      failureThreshold: 2,
      onUnhealthy: "stop-renewing",
    });
    const a = make("pod-a").start();
    await time.advanceUntil(() => a.isLeader(), 5_000);
    const b = make("pod-b").start();
    await time.advanceBy(3_000);
    healthy.set("pod-a", false);
    await time.advanceUntil(
      () => events.get("pod-a")?.some((event) => event.type === "stopped-leading") ?? false,
      5_000,
    );
    expect(a.isLeader()).toBe(false);
    const writesAtStepDown = store.writes;
    const steppedDownAt = time.now();
    // The record still names pod-a: nobody released it.
    expect(store.current()?.record?.holderIdentity).toBe("pod-a");
    expect(await time.advanceUntil(() => b.isLeader(), 30_000)).toBe(true);
    // b waited out the lease from the last renewal it saw, minus at most one retry period.
    expect(time.now() - steppedDownAt).toBeGreaterThan(timing.leaseDurationMs - 2 * timing.retryPeriodMs);
    // The only write since the step-down is b's acquisition.
    expect(store.writes).toBe(writesAtStepDown + 1);
    log.assertSafe();
    await Promise.all([a.stop(), b.stop()]);
  });

  it("an unhealthy candidate never campaigns, and campaigns once it passes the success threshold", async () => {
    const { time, store, healthy, events, make } = cluster({ failureThreshold: 2, successThreshold: 3 });
    healthy.set("pod-a", false);
    const a = make("pod-a");
    healthy.set("pod-a", false);
    a.start();
    await time.advanceBy(60_000);
    expect(a.isLeader()).toBe(false);
    expect(store.writes).toBe(0);
    expect(events.get("pod-a")).toContainEqual(
      expect.objectContaining({ type: "health-changed", healthy: false }),
    );

    healthy.set("pod-a", true);
    const healedAt = time.now();
    expect(await time.advanceUntil(() => a.isLeader(), 10_000)).toBe(true);
    // Three passes a second apart (the first one at most a second after healing), then one round trip.
    expect(time.now() - healedAt).toBeGreaterThanOrEqual(2_000);
    expect(time.now() - healedAt).toBeLessThanOrEqual(3_000);
    await a.stop();
  });

  it("does not campaign before the first check passes", async () => {
    const { time, store, make } = cluster({
      check: () => new Promise<boolean>(() => {}), // never answers
      timeoutMs: 500,
      failureThreshold: 5,
    });
    const a = make("pod-a").start();
    await time.advanceBy(30_000);
    expect(a.isLeader()).toBe(false);
    expect(store.writes).toBe(0);
    await a.stop();
  });

  it("isolates a check that throws, rejects or hangs: each is a reported failure, never a crash", async () => {
    let mode: "throw" | "reject" | "hang" | "ok" = "ok";
    const { time, events, make } = cluster({
      check: () => {
        if (mode === "throw") throw new Error("probe exploded");
        if (mode === "reject") return Promise.reject(new Error("probe rejected"));
        if (mode === "hang") return new Promise<boolean>(() => {});
        return true;
      },
      timeoutMs: 400,
      failureThreshold: 100,
    });
    const a = make("pod-a").start();
    await time.advanceUntil(() => a.isLeader(), 5_000);
    await time.advanceBy(500); // between two checks, which run a second apart
    mode = "throw";
    await time.advanceBy(1_000);
    mode = "reject";
    await time.advanceBy(1_000);
    mode = "hang";
    await time.advanceBy(3_000);
    const failures = (events.get("pod-a") ?? []).flatMap((event) =>
      event.type === "health-check-failed" ? [event.failure.kind] : [],
    );
    expect(failures.slice(0, 4)).toEqual(["threw", "threw", "timeout", "still-running"]);
    expect(a.isLeader()).toBe(true); // below the threshold, and the elector is unharmed
    await a.stop();
  });

  it("negative control: without the option, a leader whose dependency fails keeps leading", async () => {
    const { time, healthy, make } = cluster(undefined);
    const a = make("pod-a").start();
    await time.advanceUntil(() => a.isLeader(), 5_000);
    healthy.set("pod-a", false);
    await time.advanceBy(60_000);
    expect(a.isLeader()).toBe(true);
    await a.stop();
  });

  it("rejects bad options naming the field and the rule", () => {
    const store = new FakeStore();
    const base = { store, name: "example", identity: "pod-a" };
    const bad: [Partial<HealthPolicyOptions>, string][] = [
      [{ failureThreshold: 0 }, "health.failureThreshold"],
      [{ successThreshold: 1.5 }, "health.successThreshold"],
      [{ intervalMs: -1 }, "health.intervalMs"],
      [{ intervalMs: 1_000, timeoutMs: 2_000 }, "health.timeoutMs"],
    ];
    for (const [options, field] of bad) {
      const build = () => new Elector({ ...base, health: { check: () => true, ...options } });
      expect(build).toThrow(InvalidArgumentError);
      expect(build).toThrow(field);
    }
  });
});
