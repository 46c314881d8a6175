import { CoreV1Api } from "@kubernetes/client-node";
import type { DecodeResult, LeaderRecord } from "@tenure/core";
import { decodeRecord, InvalidArgumentError, recordFromObject } from "@tenure/core";
import { defaultKubeConfig, type KubernetesLockOptions, validNamespace, validTimeout } from "./client.js";
import { withoutManagedFields } from "./lease-lock.js";
import { type KubeObject, KubernetesObjectLock, type ObjectKind } from "./object-lock.js";
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

function annotated(
  base: KubeObject | undefined,
  name: string,
  namespace: string,
  record: LeaderRecord,
  header: { apiVersion: string; kind: string },
): KubeObject {
  const metadata = withoutManagedFields(base?.metadata ?? { name, namespace });
  return {
    ...base,
    ...header,
    metadata: {
      ...metadata,
      annotations: { ...metadata.annotations, [LEADER_ANNOTATION]: encodeAnnotation(record) },
    },
  };
}

/** Where the annotation lock keeps its token: a JSON number, exact up to 2^53 − 1. */
const ANNOTATION_TOKEN = `leaderTransitions in the ${LEADER_ANNOTATION} annotation`;

function endpointsKind(api: CoreV1Api, backend: string): ObjectKind<KubeObject> {
  return {
    backend,
    resource: "endpoints",
    apiGroup: "",
    tokenField: ANNOTATION_TOKEN,
    maxToken: Number.MAX_SAFE_INTEGER,
    read: (name, namespace, options) => api.readNamespacedEndpoints({ name, namespace }, options),
    create: (namespace, body, options) => api.createNamespacedEndpoints({ namespace, body }, options),
    replace: (name, namespace, body, options) =>
      api.replaceNamespacedEndpoints({ name, namespace, body }, options),
    list: (namespace, fieldSelector, options) =>
      api.listNamespacedEndpoints({ namespace, fieldSelector }, options),
    watch: (namespace, query, options) =>
      api.listNamespacedEndpoints({ namespace, watch: true, allowWatchBookmarks: true, ...query }, options),
    decode: annotationToRecord,
    encode: (base, name, namespace, record) =>
      annotated(base, name, namespace, record, { apiVersion: "v1", kind: "Endpoints" }),
    validate: (record, election) => assertKubernetesRecord(record, { backend, election }, false),
  };
}

function configMapKind(api: CoreV1Api, backend: string): ObjectKind<KubeObject> {
  return {
    backend,
    resource: "configmaps",
    apiGroup: "",
    tokenField: ANNOTATION_TOKEN,
    maxToken: Number.MAX_SAFE_INTEGER,
    read: (name, namespace, options) => api.readNamespacedConfigMap({ name, namespace }, options),
    create: (namespace, body, options) => api.createNamespacedConfigMap({ namespace, body }, options),
    replace: (name, namespace, body, options) =>
      api.replaceNamespacedConfigMap({ name, namespace, body }, options),
    list: (namespace, fieldSelector, options) =>
      api.listNamespacedConfigMap({ namespace, fieldSelector }, options),
    watch: (namespace, query, options) =>
      api.listNamespacedConfigMap({ namespace, watch: true, allowWatchBookmarks: true, ...query }, options),
    decode: annotationToRecord,
    encode: (base, name, namespace, record) =>
      annotated(base, name, namespace, record, { apiVersion: "v1", kind: "ConfigMap" }),
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
    const objectKind = options.objectKind ?? "Endpoints";
    if (objectKind !== "Endpoints" && objectKind !== "ConfigMap") {
      throw new InvalidArgumentError(
        "objectKind",
        `must be "Endpoints" or "ConfigMap", got ${String(objectKind)}`,
      );
    }
    const backend = objectKind === "Endpoints" ? "kubernetes/endpoints" : "kubernetes/configmap";
    const namespace = validNamespace(options.namespace, backend);
    const requestTimeoutMs = validTimeout(options.requestTimeoutMs, "requestTimeoutMs", 5000, backend);
    const watchTimeoutSeconds = validTimeout(options.watchTimeoutSeconds, "watchTimeoutSeconds", 60, backend);
    const api = options.client ?? (options.kubeConfig ?? defaultKubeConfig(backend)).makeApiClient(CoreV1Api);
    const kind = objectKind === "Endpoints" ? endpointsKind(api, backend) : configMapKind(api, backend);
    super(kind, {
      namespace,
      requestTimeoutMs,
      watchTimeoutSeconds: Math.ceil(watchTimeoutSeconds),
      logger: options.logger,
    });
    this.objectKind = objectKind;
  }
}
