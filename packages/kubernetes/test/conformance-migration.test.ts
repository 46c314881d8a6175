import type { RawLock } from "@tenure/conformance";
import { describeConformance } from "@tenure/conformance";
import { afterAll, beforeAll } from "vitest";
import { MigrationLock } from "../src/index.js";
import { Admin, kubernetesServer, ProxiedStores, rawAnnotation, rawLease } from "./kube-helpers.js";

const server = kubernetesServer();
const admin = new Admin(server);
const stores = new ProxiedStores(server, admin);
let namespace = "";

beforeAll(async () => {
  namespace = await admin.freshNamespace("migration");
});
afterAll(() => stores.closeAll());

/**
 * Reads both objects with the admin client. The suite asks what the lock holds; for a migration lock
 * that is well defined only when both halves agree, so a disagreement is reported as undecodable.
 */
async function readBoth(election: string): Promise<RawLock | null> {
  const [annotation, lease] = await Promise.all([
    admin.annotation("Endpoints", namespace, election),
    admin.lease(namespace, election),
  ]);
  const primary = rawAnnotation(annotation);
  const secondary = rawLease(lease);
  if (primary === null || secondary === null) {
    return primary === secondary ? null : { corruption: "only one of the two objects exists" };
  }
  if ("corruption" in primary) return primary;
  if ("corruption" in secondary) return secondary;
  const a = primary.record;
  const b = secondary.record;
  const agree =
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.leaderTransitions === b.leaderTransitions &&
    Math.floor(Date.parse(a.renewTime) / 1000) === Math.floor(Date.parse(b.renewTime) / 1000);
  return agree
    ? secondary
    : { corruption: `the halves disagree: ${JSON.stringify(a)} vs ${JSON.stringify(b)}` };
}

describeConformance({
  name: "kubernetes/migration",
  capabilities: { watch: true, leaseGranularityMs: 1000 },
  createStore: () =>
    stores.create(
      admin.config,
      (kubeConfig) => new MigrationLock({ kubeConfig, namespace, requestTimeoutMs: 1500 }),
    ),
  readRaw: readBoth,
  // An operator removing the lock removes both objects (`kubectl delete endpoints,lease <name>`).
  async deleteRaw(election) {
    await admin.delete("Endpoints", namespace, election);
    await admin.delete("Lease", namespace, election);
  },
  async writeCorrupt(election) {
    // The fleet still on the Endpoints lock left something unreadable there; no Lease yet.
    await admin.core.createNamespacedEndpoints({
      namespace,
      body: {
        metadata: {
          name: election,
          namespace,
          annotations: { "control-plane.alpha.kubernetes.io/leader": "{not json" },
        },
      },
    });
  },
  faults: stores.faults,
  unavailableWithinMs: 3000,
});
