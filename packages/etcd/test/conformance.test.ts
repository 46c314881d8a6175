// Brings in the type of inject("tenureServers"), declared by the harness's global setup.

import { randomBytes } from "node:crypto";
import { describeConformance, TcpFaultProxy } from "@tenure/conformance";
import type { LockStore } from "@tenure/core";
import { EtcdLockStore } from "@tenure/etcd";
import type {} from "@tenure/testing/global-setup";
import { afterAll, inject } from "vitest";
import { closeProxy, rawClient, readRawLock } from "./support.js";

const etcd = inject("tenureServers").servers.etcd;
const endpoint = etcd?.endpoints[0];
if (endpoint === undefined) throw new Error("the global setup provided no etcd endpoint");
const target = new URL(endpoint);

// A prefix of this run's own, so runs against a long-lived server (TENURE_ETCD_ENDPOINTS) never meet.
const keyPrefix = `tenure-conformance/${randomBytes(4).toString("hex")}/`;
const raw = rawClient([endpoint]);
/** One proxy per store, so the fault hook cuts exactly one candidate off. */
const proxies = new Map<LockStore, TcpFaultProxy>();

afterAll(async () => {
  await Promise.all([...proxies.values()].map((proxy) => closeProxy(proxy)));
  raw.close();
});

function proxyOf(store: LockStore): TcpFaultProxy {
  const proxy = proxies.get(store);
  if (proxy === undefined) throw new Error("this store was not created by the conformance target");
  return proxy;
}

describeConformance({
  name: "etcd",
  capabilities: { watch: true, leaseGranularityMs: 1 },
  async createStore() {
    const proxy = await TcpFaultProxy.start({ host: target.hostname, port: Number(target.port) });
    const store = new EtcdLockStore({
      hosts: `${target.protocol}//${proxy.address}`,
      keyPrefix,
      requestTimeoutMs: 1000,
    });
    proxies.set(store, proxy);
    return store;
  },
  readRaw: (election) => readRawLock(raw, `${keyPrefix}${election}`),
  async deleteRaw(election) {
    // As `etcdctl del <key>` would: a DeleteRange of the key.
    await raw.delete().key(`${keyPrefix}${election}`).exec();
  },
  async writeCorrupt(election) {
    await raw.put(`${keyPrefix}${election}`).value("{not json");
  },
  faults: {
    async isolate(store) {
      proxyOf(store).cut("blackhole");
    },
    async heal(store) {
      proxyOf(store).restore();
    },
  },
  unavailableWithinMs: 3000,
  // etcd could run the suite's default 800 ms lease, but the test machine is shared (two cores,
  // other suites running): a 2 s lease (1.4 s renew deadline, so 700 ms per call) keeps a slow
  // moment of the machine from ending a leadership the test expects to last.
  timing: { leaseDurationMs: 2000, renewDeadlineMs: 1400, retryPeriodMs: 300 },
});
