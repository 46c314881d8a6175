import { describeConformance } from "@tenure/conformance";
import { afterAll, beforeAll } from "vitest";
import { AnnotationLock, type AnnotationObjectKind } from "../src/index.js";
import { Admin, kubernetesServer, ProxiedStores, rawAnnotation } from "./kube-helpers.js";

/** The conformance suite for the annotation lock on one kind of object, in a namespace of its own. */
export function describeAnnotationConformance(objectKind: AnnotationObjectKind): void {
  const server = kubernetesServer();
  const admin = new Admin(server);
  const stores = new ProxiedStores(server, admin);
  let namespace = "";

  beforeAll(async () => {
    namespace = await admin.freshNamespace(objectKind.toLowerCase());
  });
  afterAll(() => stores.closeAll());

  describeConformance({
    name: `kubernetes/${objectKind.toLowerCase()}`,
    capabilities: { watch: true, leaseGranularityMs: 1000 },
    createStore: () =>
      stores.create(
        admin.config,
        (kubeConfig) => new AnnotationLock({ objectKind, kubeConfig, namespace, requestTimeoutMs: 1500 }),
      ),
    readRaw: async (election) => rawAnnotation(await admin.annotation(objectKind, namespace, election)),
    deleteRaw: (election) => admin.delete(objectKind, namespace, election),
    async writeCorrupt(election) {
      const metadata = {
        name: election,
        namespace,
        annotations: { "control-plane.alpha.kubernetes.io/leader": "{not json" },
      };
      if (objectKind === "Endpoints")
        await admin.core.createNamespacedEndpoints({ namespace, body: { metadata } });
      else await admin.core.createNamespacedConfigMap({ namespace, body: { metadata } });
    },
    faults: stores.faults,
    unavailableWithinMs: 3000,
  });
}
