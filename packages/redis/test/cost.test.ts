import { RedisLockStore } from "@tenure/redis";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { candidate, leads, nextEvent } from "./electors.js";
import { adminClient, type PrivateRedis, startPrivateRedis } from "./servers.js";

/**
 * What an election costs the server, measured with Redis's own INFO commandstats on a server of the
 * test's own (the counters are server-wide). Commands a script runs are counted too, under their
 * own names, next to the EVALSHA that ran them.
 */

type Calls = Record<string, number>;

async function commandCalls(admin: Redis): Promise<Calls> {
  const info = await admin.info("commandstats");
  const calls: Calls = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls[match[1] ?? ""] = Number(match[2]);
  }
  return calls;
}

function difference(after: Calls, before: Calls): Calls {
  const diff: Calls = {};
  for (const [command, calls] of Object.entries(after)) {
    const delta = calls - (before[command] ?? 0);
    if (delta > 0) diff[command] = delta;
  }
  return diff;
}

describe("redis: store operations per renewal (INFO commandstats)", () => {
  let redis: PrivateRedis;
  let admin: Redis;
  const stores: RedisLockStore[] = [];
  beforeAll(async () => {
    redis = await startPrivateRedis({ durable: false });
    admin = adminClient(redis.url);
  });
  afterAll(async () => {
    await Promise.allSettled(stores.map((store) => store.close()));
    await admin?.quit();
    await redis?.stop();
  });

  it("a leader renews with one script call and no read; watching followers send nothing", async () => {
    const name = "cost";
    const electors = ["a", "b", "c"].map((identity) => {
      const store = new RedisLockStore({ url: redis.url });
      stores.push(store);
      return candidate(store, name, identity);
    });
    const leader = await Promise.any(
      electors.map(async (elector) => {
        await leads(elector);
        return elector;
      }),
    );
    const followers = electors.filter((elector) => elector !== leader);
    await Promise.all(
      followers.map((follower) =>
        follower.leader() === leader.identity
          ? undefined
          : nextEvent(follower, "leader-changed", 10_000, (event) => event.leader === leader.identity),
      ),
    );
    // Settle: every candidate is past its first reads and subscribed.
    await nextEvent(leader, "renewed", 10_000);
    await nextEvent(leader, "renewed", 10_000);

    const renewals = 10;
    let seen = 0;
    const done = nextEvent(leader, "renewed", 30_000, () => ++seen === renewals);
    const before = await commandCalls(admin);
    // INFO is answered before the next renewal is due (every 200 ms), so it falls between two.
    seen = 0;
    await done;
    const after = await commandCalls(admin);
    const diff = difference(after, before);
    delete diff.info; // the measurement itself

    console.log(
      `commands over ${renewals} renewals (1 leader, 2 watching followers): ${JSON.stringify(diff)}\n` +
        `per renewal: ${JSON.stringify(Object.fromEntries(Object.entries(diff).map(([command, calls]) => [command, calls / renewals])))}`,
    );
    // One round trip per renewal: a single EVALSHA, the conditional write. No read (EVALSHA_RO),
    // no script reload (EVAL), and nothing at all from the followers, who learn of each renewal
    // from the message that same script published.
    expect(diff.evalsha).toBe(renewals);
    for (const read of ["evalsha_ro", "eval_ro", "eval", "get", "hget", "subscribe"]) {
      expect(diff[read], read).toBeUndefined();
    }
    // Inside that one script: the compare (TYPE + HMGET), the version (INCR), the write (HSET) and
    // its notice (PUBLISH), once each per renewal.
    for (const inner of ["type", "hmget", "incr", "hset", "publish"]) {
      expect(diff[inner], inner).toBe(renewals);
    }
    // Watch heartbeats (PING every 5 s per watching connection) are the only other traffic.
    const known = new Set(["evalsha", "type", "hmget", "incr", "hset", "publish", "ping"]);
    expect(Object.keys(diff).filter((command) => !known.has(command))).toEqual([]);
    expect(electors.filter((elector) => elector.isLeader())).toEqual([leader]);
    await Promise.all(electors.map((elector) => elector.stop()));
  });
});
