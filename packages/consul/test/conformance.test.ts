import { randomBytes } from "node:crypto";
import { describeConformance, TcpFaultProxy } from "@tenure/conformance";
import { ConsulLockStore } from "@tenure/consul";
import type { LeaderRecord, LockStore } from "@tenure/core";
import Consul from "consul";
import { afterAll, inject } from "vitest";

const server = inject("tenureServers").servers.consul;
if (server === undefined) throw new Error("the global setup did not provide consul");
const agentUrl = new URL(server.url);
const agent = { host: agentUrl.hostname, port: Number(agentUrl.port) };

// A prefix of this run's own, so runs sharing one agent (TENURE_CONSUL_ADDR) never meet.
const keyPrefix = `tenure-test/${randomBytes(4).toString("hex")}/`;
// The raw reader and corrupt writer go straight to the agent with the consul client, not the adapter.
const raw = new Consul(agent);
const proxies = new Map<LockStore, TcpFaultProxy>();

afterAll(async () => {
  await Promise.all([...proxies.values()].map((proxy) => proxy.close()));
  raw.destroy();
});

function proxyOf(store: LockStore): TcpFaultProxy {
  const proxy = proxies.get(store);
  if (proxy === undefined) throw new Error("no proxy recorded for this store");
  return proxy;
}

describeConformance({
  name: "consul",
  capabilities: { watch: true, leaseGranularityMs: 1 },
  // Blocking queries report the key's latest state: commits between two queries arrive as one.
  watchMayCoalesce: true,
  async createStore() {
    // Each store talks to the agent through a proxy of its own, so a fault cuts one candidate only.
    const proxy = await TcpFaultProxy.start(agent);
    const store = new ConsulLockStore({ address: proxy.address, keyPrefix, requestTimeoutMs: 1_000 });
    proxies.set(store, proxy);
    return store;
  },
  async readRaw(election) {
    const entry = await raw.kv.get({ key: `${keyPrefix}${election}` });
    if (entry === null || entry === undefined) return null;
    if (typeof entry.Value !== "string") return { corruption: "no value" };
    // Decoded with JSON.parse alone: the adapter is expected to store exactly encodeRecord's JSON.
    const parsed = JSON.parse(entry.Value) as unknown;
    if (typeof parsed !== "object" || parsed === null) return { corruption: "not an object" };
    return { record: parsed as LeaderRecord };
  },
  async deleteRaw(election) {
    // As `consul kv delete <key>` would: DELETE /v1/kv/<key>.
    await raw.kv.del({ key: `${keyPrefix}${election}` });
  },
  async writeCorrupt(election) {
    await raw.kv.set({ key: `${keyPrefix}${election}`, value: "{not json" });
  },
  faults: {
    async isolate(store) {
      proxyOf(store).cut("blackhole");
    },
    async heal(store) {
      proxyOf(store).restore();
    },
  },
  unavailableWithinMs: 3_000,
});
