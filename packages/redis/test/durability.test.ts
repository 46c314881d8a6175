import type { LeaderRecord, Snapshot } from "@tenure/core";
import { RedisLockStore } from "@tenure/redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { candidate, leads } from "./electors.js";
import { adminClient, type PrivateRedis, startPrivateRedis } from "./servers.js";

/**
 * What survives a restart of the Redis server between writes. Each case runs its own server (the
 * harness's, in a private state folder), since it restarts it.
 */

const record = (overrides: Partial<LeaderRecord> = {}): LeaderRecord => ({
  holderIdentity: "writer",
  leaseDurationSeconds: 1,
  acquireTime: "2026-01-02T03:04:05Z",
  renewTime: "2026-01-02T03:04:05Z",
  leaderTransitions: 5,
  ...overrides,
});

/** The server's settings, read back rather than trusted from the command line. */
async function configOf(redis: PrivateRedis, names: readonly string[]): Promise<Record<string, string>> {
  const admin = adminClient(redis.url);
  try {
    const values: Record<string, string> = {};
    for (const name of names) {
      const [, value] = (await admin.config("GET", name)) as [string, string];
      values[name] = value;
    }
    return values;
  } finally {
    await admin.quit();
  }
}

function versionNumber(snapshot: Snapshot | null): bigint {
  if (snapshot === null) throw new Error("no lock");
  return BigInt(snapshot.version);
}

describe("redis durability with appendonly yes + appendfsync always", () => {
  let redis: PrivateRedis;
  let store: RedisLockStore;
  beforeAll(async () => {
    redis = await startPrivateRedis({ durable: true });
    store = new RedisLockStore({ url: redis.url, requestTimeoutMs: 5000 });
    expect(await configOf(redis, ["appendonly", "appendfsync"])).toEqual({
      appendonly: "yes",
      appendfsync: "always",
    });
  });
  afterAll(async () => {
    await store?.close();
    await redis?.stop();
  });

  it("keeps the lock, its version and its fencing token across restarts between writes", async () => {
    const name = "durable-writes";
    const created = await store.create(name, record());
    await redis.restart();
    expect(await store.get(name)).toEqual(created);
    // The version survived too, so a compare-and-swap on the pre-restart version still wins...
    const updated = await store.update(name, record({ leaderTransitions: 6 }), created.version);
    await redis.restart();
    expect(await store.get(name)).toEqual(updated);
    // ...and one on an older version still loses.
    await expect(store.update(name, record(), created.version)).rejects.toMatchObject({ code: "CONFLICT" });
    expect(versionNumber(await store.update(name, record(), updated.version))).toBeGreaterThan(
      versionNumber(updated),
    );
  });

  it("keeps fencing tokens increasing across restarts, through real electors", async () => {
    const name = "durable-election";
    const first = candidate(store, name, "first");
    const firstToken = await leads(first);
    await first.stop({ release: false }); // a crash, as far as the store can tell
    await redis.restart();
    expect((await store.get(name))?.record).toMatchObject({
      holderIdentity: "first",
      leaderTransitions: firstToken,
    });

    const second = candidate(store, name, "second");
    const secondToken = await leads(second);
    expect(secondToken).toBeGreaterThan(firstToken);
    await second.stop({ release: true });
    await redis.restart();
    expect((await store.get(name))?.record).toMatchObject({
      holderIdentity: "",
      leaderTransitions: secondToken,
    });

    const third = candidate(store, name, "third");
    expect(await leads(third)).toBeGreaterThan(secondToken);
    await third.stop();
  });
});

describe("redis without persistence (--save '' --appendonly no): what a restart loses", () => {
  let redis: PrivateRedis;
  let store: RedisLockStore;
  beforeAll(async () => {
    redis = await startPrivateRedis({ durable: false });
    store = new RedisLockStore({ url: redis.url, requestTimeoutMs: 5000 });
    expect(await configOf(redis, ["appendonly", "save"])).toEqual({ appendonly: "no", save: "" });
  });
  afterAll(async () => {
    await store?.close();
    await redis?.stop();
  });

  it("loses the lock: after a restart it is gone, and a holder's CAS fails", async () => {
    const name = "volatile-writes";
    const created = await store.create(name, record({ leaderTransitions: 41 }));
    await redis.restart();
    expect(await store.get(name)).toBeNull();
    const admin = adminClient(redis.url);
    try {
      expect(await admin.exists(`tenure:{${name}}:lock`, `tenure:{${name}}:version`)).toBe(0);
    } finally {
      await admin.quit();
    }
    await expect(store.update(name, record(), created.version)).rejects.toMatchObject({ code: "CONFLICT" });
    // Versions still never repeat (the counter is reseeded from the server clock), so no stale
    // writer can match a recreated lock, and the token, raised to the version, stays above 41.
    const recreated = await store.create(name, record({ leaderTransitions: 0 }));
    expect(versionNumber(recreated)).toBeGreaterThan(versionNumber(created));
    expect(recreated.record?.leaderTransitions).toBeGreaterThan(41);
  });

  it("keeps fencing tokens increasing across a restart that lost the lock (the counter reseeds from the clock)", async () => {
    const name = "volatile-election";
    const first = candidate(store, name, "first");
    let firstToken = await leads(first);
    await first.stop({ release: true });
    // A few more terms, so the token is clearly above the first one a fresh lock hands out.
    for (const identity of ["second", "third"]) {
      const next = candidate(store, name, identity);
      firstToken = await leads(next);
      await next.stop({ release: true });
    }
    await redis.restart();
    // Lock and counter are gone: nobody can tell the lock existed, so the next candidate creates it
    // at once (the loss of the lock itself is what no setting of the adapter can make safe: a holder
    // may still be acting; see the README's Safety section).
    expect(await store.get(name)).toBeNull();
    const afterRestart = candidate(store, name, "after-restart");
    const token = await leads(afterRestart);
    // The token is the reseeded counter's version: above every token handed out before, unless the
    // server's clock stepped back by more than the time that passed.
    expect(token).toBeGreaterThan(firstToken);
    await afterRestart.stop();
  });
});
