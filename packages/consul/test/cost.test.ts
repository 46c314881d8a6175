// Cost of a renewal, counted by Consul itself: the agent's telemetry (Prometheus format, cumulative
// counters) before and after a leader renews a known number of times. The harness's shared agent
// has no Prometheus retention (its JSON metrics are per 10 s interval, not cumulative), so this
// test runs a -dev agent of its own with `telemetry { prometheus_retention_time }`.
import { ConsulLockStore } from "@tenure/consul";
import type { ElectorEvent, LockStore } from "@tenure/core";
import { Elector } from "@tenure/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestAgent } from "./agent.js";

type Metrics = ReadonlyMap<string, number>;

const TXN_PUT = 'consul_api_http_count{method="PUT",path="v1_txn"}';
const KV_GET = 'consul_api_http_count{method="GET",path="v1_kv_"}';
const KV_PUT = 'consul_api_http_count{method="PUT",path="v1_kv_"}';
const KV_DELETE = 'consul_api_http_count{method="DELETE",path="v1_kv_"}';
const TXN_APPLY = "consul_txn_apply_count";
const KVS_APPLY = "consul_kvs_apply_count";
const RAFT_APPLY = "consul_raft_apply";

/** Timings with room between renewals, so a metrics read never overlaps one. */
const timing = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 };
const RENEWALS = 5;

/** Resolves with the next event of `elector` matching `predicate`, or rejects after `timeoutMs`. */
function nextEvent(elector: Elector, predicate: (event: ElectorEvent) => boolean, timeoutMs = 10_000) {
  return new Promise<ElectorEvent>((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out waiting for an event of ${elector.identity}`));
    }, timeoutMs);
    const unsubscribe = elector.subscribe((event) => {
      if (!predicate(event)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(event);
    });
  });
}

/** Waits until `leader` has renewed `count` more times. */
async function renewals(leader: Elector, count: number): Promise<void> {
  let seen = 0;
  await nextEvent(leader, (event) => event.type === "renewed" && ++seen >= count, count * 2_000 + 10_000);
}

/** The store with `watch` hidden: the Elector then never opens a blocking query. */
function withoutWatch(store: ConsulLockStore): LockStore {
  return {
    backend: store.backend,
    capabilities: { ...store.capabilities, watch: false },
    get: (name, options) => store.get(name, options),
    create: (name, record, options) => store.create(name, record, options),
    update: (name, record, version, options) => store.update(name, record, version, options),
    close: () => store.close(),
  };
}

describe("consul: operations per renewal (Consul telemetry)", () => {
  let agent: TestAgent;
  const stores: ConsulLockStore[] = [];
  const electors: Elector[] = [];

  async function metrics(): Promise<Metrics> {
    const response = await fetch(`${agent.url}/v1/agent/metrics?format=prometheus`);
    const text = await response.text();
    const values = new Map<string, number>();
    for (const line of text.split("\n")) {
      const match = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
      if (match?.[1] !== undefined && match[2] !== undefined) values.set(match[1], Number(match[2]));
    }
    return values;
  }

  const delta = (before: Metrics, after: Metrics, name: string): number =>
    (after.get(name) ?? 0) - (before.get(name) ?? 0);

  function store(): ConsulLockStore {
    const created = new ConsulLockStore({ address: `127.0.0.1:${agent.httpPort}` });
    stores.push(created);
    return created;
  }

  // No timeout of its own: on a cold machine the agent binary is built first (bounded by hookTimeout).
  beforeAll(async () => {
    agent = await TestAgent.start({
      mode: "dev",
      hcl: ['telemetry { prometheus_retention_time = "1h" disable_hostname = true }'],
    });
  });
  afterAll(async () => {
    await Promise.allSettled(electors.map((elector) => elector.stop({ release: false })));
    await Promise.allSettled(stores.map((created) => created.close()));
    await agent?.stop();
  });

  it("a leader's renewal is one conditional write (one Raft apply) and no read; a watching follower adds one blocking GET per renewal", async () => {
    const name = "cost";
    const leader = new Elector({ store: withoutWatch(store()), name, identity: "leader", ...timing });
    electors.push(leader);
    const leading = nextEvent(leader, (event) => event.type === "started-leading");
    leader.start();
    await leading;
    await renewals(leader, 1);

    // The leader alone, its watch hidden: exactly what a renewal costs.
    const before = await metrics();
    await renewals(leader, RENEWALS);
    const after = await metrics();
    const leaderOnly = {
      txnPut: delta(before, after, TXN_PUT),
      txnApply: delta(before, after, TXN_APPLY),
      kvGet: delta(before, after, KV_GET),
      kvPut: delta(before, after, KV_PUT),
      kvDelete: delta(before, after, KV_DELETE),
      kvsApply: delta(before, after, KVS_APPLY),
      raftApply: delta(before, after, RAFT_APPLY),
    };
    expect(leaderOnly.txnPut).toBe(RENEWALS);
    expect(leaderOnly.txnApply).toBe(RENEWALS);
    expect(leaderOnly.kvGet).toBe(0);
    expect(leaderOnly.kvPut + leaderOnly.kvDelete + leaderOnly.kvsApply).toBe(0);

    // A follower with the default store (watch on) joins: it holds one blocking query, which Consul
    // answers after every committed renewal; the follower then sends the next one.
    const follower = new Elector({ store: store(), name, identity: "follower", ...timing });
    electors.push(follower);
    const agrees = nextEvent(
      follower,
      (event) => event.type === "leader-changed" && event.leader === "leader",
    );
    follower.start();
    await agrees;
    await renewals(leader, 1);
    const before2 = await metrics();
    await renewals(leader, RENEWALS);
    const after2 = await metrics();
    const withFollower = {
      txnPut: delta(before2, after2, TXN_PUT),
      kvGet: delta(before2, after2, KV_GET),
      raftApply: delta(before2, after2, RAFT_APPLY),
    };
    expect(withFollower.txnPut).toBe(RENEWALS);
    // One blocking GET per renewal; the last one may be answered just after the metrics were read.
    expect(withFollower.kvGet).toBeGreaterThanOrEqual(RENEWALS - 1);
    expect(withFollower.kvGet).toBeLessThanOrEqual(RENEWALS + 1);
    console.info(
      `consul ${RENEWALS} renewals: leader alone ${JSON.stringify(leaderOnly)}; with one watching follower ${JSON.stringify(withFollower)}`,
    );
  }, 60_000);
});
