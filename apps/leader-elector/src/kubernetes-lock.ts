import { KubeConfig } from "@kubernetes/client-node";
import type { LockStore, Logger } from "@tenure/core";
import { AnnotationLock, defaultKubeConfig, LeaseLock, MigrationLock } from "@tenure/kubernetes";
import type { BackendSettings } from "./flags.js";

/** Opens the Kubernetes lock the `--lock` flag names, in the election's namespace. */
export function openKubernetesLock(
  settings: Extract<BackendSettings, { kind: "kubernetes" }>,
  namespace: string,
  logger: Logger,
): LockStore {
  const kubeConfig =
    settings.kubeconfig === undefined ? defaultKubeConfig("kubernetes") : fromFile(settings.kubeconfig);
  const common = { namespace, kubeConfig, logger };
  switch (settings.lock) {
    case "lease":
      return new LeaseLock(common);
    case "endpoints":
      return new AnnotationLock({ ...common, objectKind: "Endpoints" });
    case "configmap":
      return new AnnotationLock({ ...common, objectKind: "ConfigMap" });
    case "migrate":
      // Holds the 2016 Endpoints annotation and the Lease at once, so a fleet still on the old
      // sidecar and a fleet on Leases never both lead during a rolling update.
      return new MigrationLock({ ...common, primaryKind: "Endpoints" });
  }
}

function fromFile(path: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(path);
  return kubeConfig;
}
