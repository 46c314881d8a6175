import { describeConformance } from "@tenure/conformance";
import { afterAll, beforeAll } from "vitest";
import { LeaseLock } from "../src/index.js";
import { Admin, kubernetesServer, ProxiedStores, rawLease } from "./kube-helpers.js";

const server = kubernetesServer();
const admin = new Admin(server);
const stores = new ProxiedStores(server, admin);
let namespace = "";

beforeAll(async () => {
  namespace = await admin.freshNamespace("lease");
});
afterAll(() => stores.closeAll());

describeConformance({
  name: "kubernetes/lease",
  capabilities: { watch: true, leaseGranularityMs: 1000 },
  createStore: () =>
    stores.create(
      admin.config,
      (kubeConfig) => new LeaseLock({ kubeConfig, namespace, requestTimeoutMs: 1500 }),
    ),
  readRaw: async (election) => rawLease(await admin.lease(namespace, election)),
  deleteRaw: (election) => admin.delete("Lease", namespace, election),
  async writeCorrupt(election) {
    // A holder with no lease duration: no client-go or Tenure writer produces it, and no reader can
    // tell when it expires.
    await admin.coordination.createNamespacedLease({
      namespace,
      body: { metadata: { name: election, namespace }, spec: { holderIdentity: "somebody-else" } },
    });
  },
  faults: stores.faults,
  unavailableWithinMs: 3000,
});
