// A client from another copy of ioredis is accepted and works: ioredis 5 (the oldest major the peer
// range admits), installed apart from the workspace's ioredis 6, passed in as a user's program would.
// The store once refused such a client with an `instanceof` check against its own copy's classes.
import { randomBytes } from "node:crypto";
import type { LeaderRecord, Snapshot } from "@tenure/core";
import { RedisLockStore } from "@tenure/redis";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type IoRedisModule, OLDEST_IOREDIS, oldestIoRedis } from "./client-copy.js";
import { candidate, leads, nextEvent } from "./electors.js";
import { sharedRedis } from "./servers.js";

const server = sharedRedis();
const keyPrefix = `copy-${randomBytes(4).toString("hex")}`;

const record = (overrides: Partial<LeaderRecord> = {}): LeaderRecord => ({
  holderIdentity: "a",
  leaseDurationSeconds: 1,
  acquireTime: "2026-01-02T03:04:05Z",
  renewTime: "2026-01-02T03:04:05Z",
  leaderTransitions: 1,
  ...overrides,
});

describe(`redis store on a client of another ioredis copy (${OLDEST_IOREDIS})`, () => {
  let ioredis5: IoRedisModule;
  let client: InstanceType<IoRedisModule["Redis"]>;
  const stores: RedisLockStore[] = [];
  const open = (options: ConstructorParameters<typeof RedisLockStore>[0]): RedisLockStore => {
    const store = new RedisLockStore({ keyPrefix, requestTimeoutMs: 2000, ...options });
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    ioredis5 = await oldestIoRedis();
    client = new ioredis5.Redis(server.url, { lazyConnect: true });
  }, 180_000);
  afterAll(async () => {
    await Promise.allSettled(stores.map((store) => store.close()));
    await client?.quit();
  });

  it("is a copy with classes of its own, of ioredis 5", () => {
    expect(ioredis5.version).toMatch(/^5\./);
    expect(ioredis5.Redis).not.toBe(Redis);
    expect(client instanceof Redis).toBe(false);
  });

  it("reads, creates and compares-and-swaps through it, and leaves it open on close", async () => {
    const store = open({ client });
    const name = `copy-${randomBytes(3).toString("hex")}`;
    expect(await store.get(name)).toBeNull();
    const created = await store.create(name, record());
    await expect(store.create(name, record())).rejects.toMatchObject({ code: "CONFLICT" });
    const updated = await store.update(name, record({ holderIdentity: "b" }), created.version);
    await expect(store.update(name, record(), created.version)).rejects.toMatchObject({ code: "CONFLICT" });
    expect(await store.get(name)).toEqual(updated);
    await store.close();
    expect(client.status).toBe("ready");
    expect(await client.get(store.keys(name).counter)).toBe(updated.version);
  });

  it("watches through a duplicate of it, seeing every change", async () => {
    const watcher = open({ client });
    const writer = open({ url: server.url });
    const name = `copy-watch-${randomBytes(3).toString("hex")}`;
    const abort = new AbortController();
    const stream = watcher.watch(name, abort.signal)[Symbol.asyncIterator]();
    expect((await stream.next()).value).toBeNull();
    const created = await writer.create(name, record());
    const released = await writer.update(name, record({ holderIdentity: "" }), created.version);
    expect(((await stream.next()).value as Snapshot | null)?.version).toBe(created.version);
    expect(((await stream.next()).value as Snapshot | null)?.record?.holderIdentity).toBe("");
    expect(released.record?.holderIdentity).toBe("");
    abort.abort();
    expect(await stream.next()).toEqual({ done: true, value: undefined });
  });

  it("elects with a candidate on the store's own ioredis 6 connection, and fails over on release", async () => {
    const name = `copy-election-${randomBytes(3).toString("hex")}`;
    const onCopy = candidate(open({ client }), name, "on-ioredis-5");
    const first = await leads(onCopy);
    const onOwn = candidate(open({ url: server.url }), name, "on-ioredis-6");
    await nextEvent(onOwn, "leader-changed", 5_000, (event) => event.leader === "on-ioredis-5");
    await onCopy.stop({ release: true });
    expect(await leads(onOwn, 5_000)).toBeGreaterThan(first);
    await onOwn.stop();
  });
});
