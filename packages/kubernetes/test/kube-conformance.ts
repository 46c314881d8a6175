import type { KubeConfig } from "@kubernetes/client-node";
import { describeConformance, ProxiedStores, type RawLock } from "@tenure/conformance";
import type { LockStore } from "@tenure/core";
import { afterAll, beforeAll } from "vitest";
import { AnnotationLock, LeaseLock, MigrationLock } from "../src/index.js";
import { Admin, kubernetesServer, rawAnnotation, rawLease, viaServer } from "./kube-helpers.js";

/** The lock kinds the conformance suite runs on. */
export type ConformanceKind = "Lease" | "Endpoints" | "ConfigMap" | "Migration";

/** How one lock kind is opened, and read, deleted and corrupted around the adapter with the admin's client. */
interface KindUnderTest {
  open(kubeConfig: KubeConfig, namespace: string): LockStore;
  readRaw(admin: Admin, namespace: string, election: string): Promise<RawLock | null>;
  deleteRaw(admin: Admin, namespace: string, election: string): Promise<void>;
  writeCorrupt(admin: Admin, namespace: string, election: string): Promise<void>;
}

/** Stores of the suite: short call limits, so a cut-off store fails within `unavailableWithinMs`. */
const requestTimeoutMs = 1500;

/** An object carrying an annotation that is not JSON. */
const corruptAnnotation = (namespace: string, name: string) => ({
  metadata: { name, namespace, annotations: { "control-plane.alpha.kubernetes.io/leader": "{not json" } },
});

function annotationKind(objectKind: "Endpoints" | "ConfigMap"): KindUnderTest {
  return {
    open: (kubeConfig, namespace) =>
      new AnnotationLock({ objectKind, kubeConfig, namespace, requestTimeoutMs }),
    readRaw: async (admin, namespace, election) =>
      rawAnnotation(await admin.annotation(objectKind, namespace, election)),
    deleteRaw: (admin, namespace, election) => admin.delete(objectKind, namespace, election),
    async writeCorrupt(admin, namespace, election) {
      const body = corruptAnnotation(namespace, election);
      if (objectKind === "Endpoints") await admin.core.createNamespacedEndpoints({ namespace, body });
      else await admin.core.createNamespacedConfigMap({ namespace, body });
    },
  };
}

const KINDS: Record<ConformanceKind, KindUnderTest> = {
  Lease: {
    open: (kubeConfig, namespace) => new LeaseLock({ kubeConfig, namespace, requestTimeoutMs }),
    readRaw: async (admin, namespace, election) => rawLease(await admin.lease(namespace, election)),
    deleteRaw: (admin, namespace, election) => admin.delete("Lease", namespace, election),
    async writeCorrupt(admin, namespace, election) {
      // A holder with no lease duration: no client-go or Tenure writer produces it, and no reader can
      // tell when it expires.
      await admin.coordination.createNamespacedLease({
        namespace,
        body: { metadata: { name: election, namespace }, spec: { holderIdentity: "somebody-else" } },
      });
    },
  },
  Endpoints: annotationKind("Endpoints"),
  ConfigMap: annotationKind("ConfigMap"),
  Migration: {
    open: (kubeConfig, namespace) => new MigrationLock({ kubeConfig, namespace, requestTimeoutMs }),
    readRaw: readBothHalves,
    // An operator removing the lock removes both objects (`kubectl delete endpoints,lease <name>`).
    async deleteRaw(admin, namespace, election) {
      await admin.delete("Endpoints", namespace, election);
      await admin.delete("Lease", namespace, election);
    },
    async writeCorrupt(admin, namespace, election) {
      // The fleet still on the Endpoints lock left something unreadable there; no Lease yet.
      await admin.core.createNamespacedEndpoints({ namespace, body: corruptAnnotation(namespace, election) });
    },
  },
};

/**
 * Reads both objects of a migration lock. The suite asks what the lock holds; for a migration lock
 * that is well defined only when both halves agree, so a disagreement is reported as undecodable.
 */
async function readBothHalves(admin: Admin, namespace: string, election: string): Promise<RawLock | null> {
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

/**
 * The conformance suite for one lock kind on the harness's kube-apiserver, in a namespace of its own.
 * Every store reaches the apiserver through a fault proxy of its own (TLS passes through it: the
 * apiserver's certificate names 127.0.0.1, the proxy's address).
 */
export function describeKubernetesConformance(kind: ConformanceKind): void {
  const server = kubernetesServer();
  const admin = new Admin(server);
  const lock = KINDS[kind];
  const upstream = server.server ?? admin.config.getCurrentCluster()?.server;
  if (upstream === undefined) throw new Error("no apiserver URL");
  let namespace = "";
  const stores = new ProxiedStores(upstream, (address) =>
    lock.open(viaServer(admin.config, `https://${address}`), namespace),
  );

  beforeAll(async () => {
    namespace = await admin.freshNamespace(kind.toLowerCase());
  });
  afterAll(() => stores.close());

  describeConformance({
    name: `kubernetes/${kind.toLowerCase()}`,
    capabilities: { watch: true, leaseGranularityMs: 1000 },
    createStore: () => stores.open(),
    readRaw: (election) => lock.readRaw(admin, namespace, election),
    deleteRaw: (election) => lock.deleteRaw(admin, namespace, election),
    writeCorrupt: (election) => lock.writeCorrupt(admin, namespace, election),
    faults: stores.faults,
    unavailableWithinMs: 3000,
  });
}
