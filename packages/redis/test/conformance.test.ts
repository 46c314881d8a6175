import { randomBytes } from "node:crypto";
import { describeConformance, TcpFaultProxy } from "@tenure/conformance";
import type { LockStore } from "@tenure/core";
import { RedisLockStore } from "@tenure/redis";
import { afterAll } from "vitest";
import { addressOf, adminClient, sharedRedis } from "./servers.js";

const server = sharedRedis();
const admin = adminClient(server.url);
/** A prefix of this run's own, so runs against one long-lived server never meet. */
const keyPrefix = `conformance-${randomBytes(4).toString("hex")}`;
const lockKey = (election: string): string => `${keyPrefix}:{${election}}:lock`;
/** One proxy per store, so the fault hook cuts exactly one candidate off. */
const proxies = new Map<LockStore, TcpFaultProxy>();

afterAll(async () => {
  await Promise.allSettled([...proxies.values()].map((proxy) => proxy.close()));
  await admin.quit();
});

function proxyOf(store: LockStore): TcpFaultProxy {
  const proxy = proxies.get(store);
  if (proxy === undefined) throw new Error("store was not created by this suite");
  return proxy;
}

describeConformance({
  name: "redis",
  capabilities: { watch: true, leaseGranularityMs: 1 },
  namePrefix: "conformance",
  unavailableWithinMs: 3000,
  async createStore() {
    const proxy = await TcpFaultProxy.start(addressOf(server.url));
    const store = new RedisLockStore({ url: `redis://${proxy.address}`, keyPrefix, commandTimeoutMs: 1000 });
    proxies.set(store, proxy);
    return store;
  },
  async readRaw(election) {
    const value = await admin.hget(lockKey(election), "record");
    if (value === null) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      return { corruption: "not JSON" };
    }
    if (typeof parsed !== "object" || parsed === null) return { corruption: "not an object" };
    return { record: parsed as import("@tenure/core").LeaderRecord };
  },
  async deleteRaw(election) {
    // What an operator would do: delete the lock key (the version counter beside it stays).
    await admin.del(lockKey(election));
  },
  async writeCorrupt(election) {
    // What another program might leave: a hash with an unparseable record and no version.
    await admin.hset(lockKey(election), "record", "{not json");
  },
  faults: {
    async isolate(store) {
      proxyOf(store).cut("blackhole");
    },
    async heal(store) {
      proxyOf(store).restore();
    },
  },
});
