import { randomBytes } from "node:crypto";
import { describeConformance, ProxiedStores } from "@tenure/conformance";
import { ConsulLockStore } from "@tenure/consul";
import { afterAll, inject } from "vitest";
import { rawLocks } from "./agent.js";

const server = inject("tenureServers").servers.consul;
if (server === undefined) throw new Error("the global setup did not provide consul");
const agentUrl = new URL(server.url);
// A prefix of this run's own, so runs sharing one agent (TENURE_CONSUL_ADDR) never meet.
const keyPrefix = `tenure-test/${randomBytes(4).toString("hex")}/`;
// Each store talks to the agent through a proxy of its own, so a fault cuts one candidate only.
const stores = new ProxiedStores(
  server.url,
  (address) => new ConsulLockStore({ address, keyPrefix, requestTimeoutMs: 1_000 }),
);
const raw = rawLocks({ host: agentUrl.hostname, port: Number(agentUrl.port) }, keyPrefix);
afterAll(async () => {
  await stores.close();
  raw.close();
});

describeConformance({
  name: "consul",
  capabilities: { watch: true, leaseGranularityMs: 1 },
  // Blocking queries report the key's latest state: commits between two queries arrive as one.
  watchMayCoalesce: true,
  createStore: () => stores.open(),
  faults: stores.faults,
  readRaw: raw.readRaw,
  deleteRaw: raw.deleteRaw,
  writeCorrupt: raw.writeCorrupt,
  unavailableWithinMs: 3_000,
});
