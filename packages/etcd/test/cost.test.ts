import type { ElectorEvent } from "@tenure/core";
import { Elector } from "@tenure/core";
import { EtcdLockStore } from "@tenure/etcd";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Metrics,
  metricSum,
  type PrivateEtcd,
  SERVER_START_TIMEOUT_MS,
  scrapeMetrics,
  startPrivateEtcd,
} from "./support.js";

/** gRPC calls of one method that etcd finished handling, whatever their status. */
function handled(metrics: Metrics, method: string): number {
  return metricSum(metrics, "grpc_server_handled_total", { grpc_method: method });
}

/** Streams of one method that etcd accepted. */
function started(metrics: Metrics, method: string): number {
  return metricSum(metrics, "grpc_server_started_total", { grpc_method: method });
}

/**
 * What an election costs etcd, counted by etcd itself (its Prometheus /metrics) on a private server
 * that nothing else talks to: a leader's renewal must be one Txn and nothing else, and followers
 * that watch must send nothing at all while the leader renews.
 */
describe("etcd: store operations per renewal, from etcd's own metrics", () => {
  // A long retry period leaves ~1 s between renewals, so a scrape right after one renewal is done
  // long before the next starts: each window holds an exact number of renewals.
  const timing = { leaseDurationMs: 6000, renewDeadlineMs: 4000, retryPeriodMs: 1000 };
  let etcd: PrivateEtcd;
  const electors: Elector[] = [];
  const stores: EtcdLockStore[] = [];

  beforeAll(async () => {
    etcd = await startPrivateEtcd("cost", { durable: false });
  }, SERVER_START_TIMEOUT_MS);
  afterAll(async () => {
    await Promise.allSettled(electors.map((elector) => elector.stop({ release: false })));
    await Promise.allSettled(stores.map((store) => store.close()));
    await etcd?.stop();
  });

  /** Resolves with the next event of `elector` that matches, or rejects after `timeoutMs`. */
  function next(elector: Elector, what: ElectorEvent["type"], timeoutMs: number): Promise<ElectorEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        unsubscribe();
        reject(new Error(`no ${what} event from ${elector.identity} within ${timeoutMs} ms`));
      }, timeoutMs);
      const unsubscribe = elector.subscribe((event) => {
        if (event.type !== what) return;
        clearTimeout(timer);
        unsubscribe();
        resolve(event);
      });
    });
  }

  it("a renewal is exactly one Txn and no Range; watching followers send nothing between lease events", async () => {
    const name = "cost";
    for (const identity of ["a", "b", "c"]) {
      const store = new EtcdLockStore({ hosts: [...etcd.endpoints], requestTimeoutMs: 2000 });
      stores.push(store);
      electors.push(new Elector({ store, name, identity, ...timing }));
    }
    const firstLeader = Promise.race(
      electors.map((elector) => next(elector, "started-leading", 10_000).then(() => elector)),
    );
    for (const elector of electors) elector.start();
    const leader = await firstLeader;
    const followers = electors.filter((elector) => elector !== leader);
    // Followers have seen the leader; their watches (one stream per store) are open.
    await Promise.all(
      followers.map((follower) =>
        follower.leader() === leader.identity ? undefined : next(follower, "leader-changed", 10_000),
      ),
    );
    await next(leader, "renewed", 5000);
    await next(leader, "renewed", 5000);

    const renewalsCounted = 5;
    const before = await scrapeMetrics(etcd.url);
    for (let i = 0; i < renewalsCounted; i++) await next(leader, "renewed", 5000);
    const after = await scrapeMetrics(etcd.url);

    const delta = (read: (metrics: Metrics) => number): number => read(after) - read(before);
    const txns = delta((metrics) => handled(metrics, "Txn"));
    const ranges = delta((metrics) => handled(metrics, "Range"));
    const puts = delta((metrics) => handled(metrics, "Put"));
    const watchStreams = delta((metrics) => started(metrics, "Watch"));
    const keysWritten = delta((metrics) => metricSum(metrics, "etcd_mvcc_put_total"));
    console.info(
      `etcd ${etcd.version}: ${renewalsCounted} renewals cost ${txns} Txn, ${ranges} Range, ${puts} Put, ` +
        `${keysWritten} key writes, ${watchStreams} new Watch streams (3 candidates, 2 watching followers)`,
    );
    // One stream per follower's store; the leader took the lock without ever watching.
    expect(started(before, "Watch")).toBe(2);
    expect(txns).toBe(renewalsCounted);
    expect(ranges).toBe(0);
    expect(puts).toBe(0);
    expect(keysWritten).toBe(renewalsCounted);
    expect(watchStreams).toBe(0);
    expect(followers.every((follower) => follower.leader() === leader.identity && !follower.isLeader())).toBe(
      true,
    );
  }, 60_000);

  it("many elections on one store renew together: a few Txns per round, not one per election", async () => {
    const count = 200;
    const store = new EtcdLockStore({ hosts: [...etcd.endpoints], requestTimeoutMs: 2000 });
    stores.push(store);
    const many = Array.from(
      { length: count },
      (_, index) => new Elector({ store, name: `many-${index}`, identity: "one", ...timing }),
    );
    electors.push(...many);
    let renewals = 0;
    for (const elector of many) {
      elector.subscribe((event) => {
        if (event.type === "renewed") renewals += 1;
      });
    }
    const allLeading = Promise.all(many.map((elector) => next(elector, "started-leading", 10_000)));
    const beforeRamp = await scrapeMetrics(etcd.url);
    for (const elector of many) elector.start();
    await allLeading;
    const afterRamp = await scrapeMetrics(etcd.url);
    const rampCalls =
      handled(afterRamp, "Txn") +
      handled(afterRamp, "Range") -
      handled(beforeRamp, "Txn") -
      handled(beforeRamp, "Range");
    console.info(
      `etcd ${etcd.version}: ${count} elections took the lock in ${rampCalls} Txn and Range calls`,
    );
    // Each election reads, reads the count and creates: 600 calls one by one, a few batches here.
    expect(rampCalls).toBeLessThanOrEqual(30);
    // Two rounds to settle, then count three.
    for (let round = 0; round < 2; round++) await next(many[0] as Elector, "renewed", 5000);
    const before = await scrapeMetrics(etcd.url);
    const renewalsBefore = renewals;
    for (let round = 0; round < 3; round++) await next(many[0] as Elector, "renewed", 5000);
    const after = await scrapeMetrics(etcd.url);
    const counted = renewals - renewalsBefore;
    const txns = handled(after, "Txn") - handled(before, "Txn");
    const keysWritten = metricSum(after, "etcd_mvcc_put_total") - metricSum(before, "etcd_mvcc_put_total");
    console.info(
      `etcd ${etcd.version}: ${counted} renewals of ${count} elections on one store cost ${txns} Txn`,
    );
    expect(counted).toBeGreaterThanOrEqual(2 * count);
    // The scrapes and the counted events do not cut the rounds at exactly the same writes.
    expect(Math.abs(keysWritten - counted)).toBeLessThanOrEqual(count);
    // Renewals fall due on a 20 ms grid and those due together leave in one transaction; the
    // ramp spreads the elections over a few grid steps, so a round takes a handful of
    // transactions (measured: 567 renewals in 27 Txn). One transaction per renewal would be 1.
    expect(counted / txns).toBeGreaterThanOrEqual(5);
    expect(many.every((elector) => elector.isLeader())).toBe(true);
  }, 60_000);
});
