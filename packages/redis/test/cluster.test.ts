import type { LeaderRecord, Snapshot } from "@tenure/core";
import { electionSlot, RedisLockStore } from "@tenure/redis";
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OLDEST_IOREDIS, oldestIoRedis } from "./client-copy.js";
import { type LocalCluster, startCluster } from "./cluster.js";
import { candidate, leads, nextEvent } from "./electors.js";

const record = (overrides: Partial<LeaderRecord> = {}): LeaderRecord => ({
  holderIdentity: "a",
  leaseDurationSeconds: 1,
  acquireTime: "2026-01-02T03:04:05Z",
  renewTime: "2026-01-02T03:04:05Z",
  leaderTransitions: 1,
  ...overrides,
});

describe("redis cluster (three masters)", () => {
  let cluster: LocalCluster;
  let client: Cluster;
  const stores: RedisLockStore[] = [];
  const open = (): RedisLockStore => {
    const store = new RedisLockStore({ client, requestTimeoutMs: 3000 });
    stores.push(store);
    return store;
  };
  beforeAll(async () => {
    cluster = await startCluster();
    client = new Cluster([...cluster.nodes]);
  });
  afterAll(async () => {
    await Promise.allSettled(stores.map((store) => store.close()));
    await client?.quit();
    await cluster?.stop();
  });

  it("keeps every key of an election in one slot, and elections on different nodes", async () => {
    const store = open();
    const names = Array.from({ length: 12 }, (_, index) => `cluster-election-${index}`);
    const slots = new Set<number>();
    for (const name of names) {
      const keys = store.keys(name);
      const keySlots = await Promise.all(
        [keys.lock, keys.counter, keys.channel].map(async (key) =>
          Number(await client.cluster("KEYSLOT", key)),
        ),
      );
      expect(new Set(keySlots).size).toBe(1);
      expect(keySlots[0]).toBe(electionSlot(name));
      slots.add(keySlots[0] ?? -1);
      // The scripts touch two keys; on a cluster that only works when they share a slot.
      const created = await store.create(name, record());
      const updated = await store.update(name, record({ leaderTransitions: 2 }), created.version);
      expect(await store.get(name)).toEqual(updated);
      await expect(store.update(name, record(), created.version)).rejects.toMatchObject({ code: "CONFLICT" });
    }
    const owners = new Set([...slots].map((slot) => (client.slots[slot] ?? []).join(",")));
    expect(owners.size).toBeGreaterThan(1);
  });

  it("delivers changes to a watch whichever node the election lives on", async () => {
    const watcher = open();
    const writer = open();
    for (const name of ["cluster-watch-a", "cluster-watch-b", "cluster-watch-c", "cluster-watch-d"]) {
      const abort = new AbortController();
      const stream = watcher.watch(name, abort.signal)[Symbol.asyncIterator]();
      expect((await stream.next()).value).toBeNull();
      const created = await writer.create(name, record());
      const updated = await writer.update(name, record({ holderIdentity: "b" }), created.version);
      expect(((await stream.next()).value as Snapshot | null)?.version).toBe(created.version);
      expect(((await stream.next()).value as Snapshot | null)?.version).toBe(updated.version);
      abort.abort();
      expect(await stream.next()).toEqual({ done: true, value: undefined });
    }
  });

  it("shares one subscriber connection per master among the watches of its elections", async () => {
    const watcher = open();
    const writer = open();
    const names = Array.from({ length: 12 }, (_, index) => `cluster-shared-${index}`);
    const owners = new Set(names.map((name) => (client.slots[electionSlot(name)] ?? []).join(",")));
    expect(owners.size).toBeGreaterThan(1);
    const abort = new AbortController();
    const streams = names.map((name) => watcher.watch(name, abort.signal)[Symbol.asyncIterator]());
    for (const first of await Promise.all(streams.map((stream) => stream.next()))) {
      expect(first.value).toBeNull();
    }
    // One connection per master that owns a watched election, not one per watch.
    expect(watcher.watchConnections).toBe(owners.size);
    const created = await Promise.all(names.map((name) => writer.create(name, record())));
    for (const [index, stream] of streams.entries()) {
      expect((await stream.next()).value).toEqual(created[index]);
    }
    abort.abort();
    for (const stream of streams) expect(await stream.next()).toEqual({ done: true, value: undefined });
    expect(watcher.watchConnections).toBe(0);
  });

  it(`takes a Cluster of another ioredis copy (${OLDEST_IOREDIS}) and watches through it`, async () => {
    const ioredis5 = await oldestIoRedis();
    expect(ioredis5.Cluster).not.toBe(Cluster);
    const copyClient = new ioredis5.Cluster([...cluster.nodes]);
    try {
      const watcher = new RedisLockStore({ client: copyClient, requestTimeoutMs: 3000 });
      stores.push(watcher);
      const writer = open();
      const name = "cluster-copy";
      const abort = new AbortController();
      const stream = watcher.watch(name, abort.signal)[Symbol.asyncIterator]();
      expect((await stream.next()).value).toBeNull();
      const created = await writer.create(name, record());
      expect(((await stream.next()).value as Snapshot | null)?.version).toBe(created.version);
      const updated = await watcher.update(name, record({ holderIdentity: "b" }), created.version);
      expect(((await stream.next()).value as Snapshot | null)?.version).toBe(updated.version);
      abort.abort();
      await watcher.close();
      expect(copyClient.status).toBe("ready");
    } finally {
      await copyClient.quit();
    }
  }, 180_000);

  it("runs an election with failover on release", async () => {
    const name = "cluster-election";
    const electors = ["x", "y"].map((identity) => candidate(open(), name, identity));
    const first = await Promise.any(
      electors.map(async (elector) => {
        await leads(elector);
        return elector;
      }),
    );
    const firstToken = first.fencingToken() ?? -1;
    const other = electors.find((elector) => elector !== first);
    if (other === undefined) throw new Error("no second candidate");
    await nextEvent(first, "renewed", 10_000);
    await first.stop({ release: true });
    expect(await leads(other, 5_000)).toBeGreaterThan(firstToken);
    await other.stop();
  });
});
