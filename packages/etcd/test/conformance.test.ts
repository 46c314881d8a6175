import { randomBytes } from "node:crypto";
import { describeConformance, ProxiedStores } from "@tenure/conformance";
import { EtcdLockStore } from "@tenure/etcd";
// Brings in the type of inject("tenureServers"), declared by the harness's global setup.
import type {} from "@tenure/testing/global-setup";
import { afterAll, inject } from "vitest";
import { closeProxy, rawLocks } from "./support.js";

const endpoint = inject("tenureServers").servers.etcd?.endpoints[0];
if (endpoint === undefined) throw new Error("the global setup provided no etcd endpoint");
// A prefix of this run's own, so runs against a long-lived server (TENURE_ETCD_ENDPOINTS) never meet.
const keyPrefix = `tenure-conformance/${randomBytes(4).toString("hex")}/`;
const { protocol } = new URL(endpoint);
const stores = new ProxiedStores(
  endpoint,
  (address) => new EtcdLockStore({ hosts: `${protocol}//${address}`, keyPrefix, requestTimeoutMs: 1000 }),
);
const raw = rawLocks([endpoint], keyPrefix);
afterAll(async () => {
  await closeProxy(stores);
  raw.close();
});

describeConformance({
  name: "etcd",
  capabilities: { watch: true, leaseGranularityMs: 1 },
  createStore: () => stores.open(),
  faults: stores.faults,
  readRaw: raw.readRaw,
  deleteRaw: raw.deleteRaw,
  writeCorrupt: raw.writeCorrupt,
  unavailableWithinMs: 3000,
  // etcd could run the suite's default 800 ms lease, but the test machine is shared (two cores,
  // other suites running): a 2 s lease (1.4 s renew deadline, so 700 ms per call) keeps a slow
  // moment of the machine from ending a leadership the test expects to last.
  timing: { leaseDurationMs: 2000, renewDeadlineMs: 1400, retryPeriodMs: 300 },
});
