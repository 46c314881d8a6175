import { CoreV1Api } from "@kubernetes/client-node";
import type { DecodeResult } from "@tenure/core";
import { decodeRecord, recordFromObject } from "@tenure/core";
import { oneOf } from "@tenure/core/adapter";
import { defaultKubeConfig, type KubernetesLockOptions, lockSettings } from "./client.js";
import { type KubeObject, type ObjectKind, type ResourceCalls, withoutManagedFields } from "./object-kind.js";
import { KubernetesObjectLock } from "./object-lock.js";
import { assertKubernetesRecord, encodeAnnotation, LEADER_ANNOTATION } from "./wire.js";

/** The object kinds the annotation lock can live on. */
export type AnnotationObjectKind = "Endpoints" | "ConfigMap";

export interface AnnotationLockOptions extends KubernetesLockOptions {
  /**
   * The object that carries the annotation. Default `"Endpoints"`, the 2016 recipe's choice. v1
   * Endpoints is deprecated since Kubernetes 1.33 (the apiserver says so in a Warning header, which
   * is logged once per store); ConfigMap carries the same annotation without the warning.
   */
  readonly objectKind?: AnnotationObjectKind;
  /** An existing client to make the calls with (its configuration, middleware and credentials). */
  readonly client?: CoreV1Api;
}

/** The record in an object's leader annotation. An object without the annotation holds an empty record, as in client-go. */
export function annotationToRecord(object: KubeObject): DecodeResult {
  const value = object.metadata?.annotations?.[LEADER_ANNOTATION];
  if (value === undefined) return recordFromObject({});
  return decodeRecord(value);
}

/** What differs between the two objects an annotation can live on. */
interface AnnotatedObject {
  /** The resource as RBAC names it. */
  readonly resource: string;
  /** The generated client's calls on it. */
  calls(api: CoreV1Api): ResourceCalls<KubeObject>;
}

const OBJECTS: Record<AnnotationObjectKind, AnnotatedObject> = {
  Endpoints: {
    resource: "endpoints",
    calls: (api) => ({
      read: api.readNamespacedEndpoints.bind(api),
      create: api.createNamespacedEndpoints.bind(api),
      replace: api.replaceNamespacedEndpoints.bind(api),
      list: api.listNamespacedEndpoints.bind(api),
    }),
  },
  ConfigMap: {
    resource: "configmaps",
    calls: (api) => ({
      read: api.readNamespacedConfigMap.bind(api),
      create: api.createNamespacedConfigMap.bind(api),
      replace: api.replaceNamespacedConfigMap.bind(api),
      list: api.listNamespacedConfigMap.bind(api),
    }),
  },
};

/** The annotation lock on one kind of object: the record is one annotation, everything else is kept. */
function annotationKind(
  objectKind: AnnotationObjectKind,
  api: CoreV1Api,
  backend: string,
): ObjectKind<KubeObject> {
  const { resource, calls } = OBJECTS[objectKind];
  return {
    backend,
    resource,
    apiGroup: "",
    // A JSON number, exact up to 2^53 − 1.
    tokenField: `leaderTransitions in the ${LEADER_ANNOTATION} annotation`,
    maxToken: Number.MAX_SAFE_INTEGER,
    calls: calls(api),
    decode: annotationToRecord,
    encode: (base, name, namespace, record) => {
      const metadata = withoutManagedFields(base?.metadata ?? { name, namespace });
      return {
        ...base,
        apiVersion: "v1",
        kind: objectKind,
        metadata: {
          ...metadata,
          annotations: { ...metadata.annotations, [LEADER_ANNOTATION]: encodeAnnotation(record) },
        },
      };
    },
    validate: (record, election) => assertKubernetesRecord(record, { backend, election }, false),
  };
}

/**
 * The 2016 recipe, as client-go's Endpoints and ConfigMap locks implement it: the record is the JSON
 * value of the `control-plane.alpha.kubernetes.io/leader` annotation on an Endpoints (default) or
 * ConfigMap object named after the election. Other annotations, labels and data are left alone.
 */
export class AnnotationLock extends KubernetesObjectLock<KubeObject> {
  /** Which object carries the annotation. */
  readonly objectKind: AnnotationObjectKind;

  constructor(options: AnnotationLockOptions = {}) {
    const objectKind = oneOf(
      "objectKind",
      options.objectKind,
      ["Endpoints", "ConfigMap"] as const,
      "Endpoints",
    );
    const backend = `kubernetes/${objectKind.toLowerCase()}`;
    const settings = lockSettings(options, backend);
    const api = options.client ?? (options.kubeConfig ?? defaultKubeConfig(backend)).makeApiClient(CoreV1Api);
    super(annotationKind(objectKind, api, backend), settings);
    this.objectKind = objectKind;
  }
}
