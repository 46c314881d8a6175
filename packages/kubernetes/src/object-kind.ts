import type { ConfigurationOptions, V1ObjectMeta } from "@kubernetes/client-node";
import type { DecodeResult, LeaderRecord } from "@tenure/core";

/** The part of a Kubernetes object every lock kind reads. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
}

/** The part of a list answer the token floor reads. */
export interface KubeList {
  metadata?: { resourceVersion?: string };
}

/** Query of a one-object watch. */
export interface WatchQuery {
  readonly fieldSelector: string;
  /** Absent: "start at most recent", which first sends the object as ADDED if it exists. */
  readonly resourceVersion?: string;
  /** With `resourceVersionMatch: "NotOlderThan"`: the current state as events, then a bookmark. */
  readonly sendInitialEvents?: boolean;
  readonly resourceVersionMatch?: string;
  readonly timeoutSeconds: number;
}

/** The request of a list (or, with `watch: true`, a watch) of one namespace's objects. */
export interface ListRequest extends Partial<WatchQuery> {
  readonly namespace: string;
  /** Absent: every object of the namespace (the shared namespace watch). */
  readonly fieldSelector?: string;
  readonly watch?: boolean;
  readonly allowWatchBookmarks?: boolean;
}

/**
 * The generated client's four methods of one resource, as @kubernetes/client-node declares them
 * (a request object, then per-call options), bound to the user's or our client.
 */
export interface ResourceCalls<T extends KubeObject> {
  read(request: { name: string; namespace: string }, options?: ConfigurationOptions): Promise<T>;
  create(request: { namespace: string; body: T }, options?: ConfigurationOptions): Promise<T>;
  replace(request: { name: string; namespace: string; body: T }, options?: ConfigurationOptions): Promise<T>;
  /** A list; with `watch: true` its body is a stream, which ApiCalls.openStream takes. */
  list(request: ListRequest, options?: ConfigurationOptions): Promise<KubeList>;
}

/**
 * What differs between the Lease lock and the annotation locks: the API calls (made through the
 * user's or our generated client) and the mapping between a lock record and the object.
 */
export interface ObjectKind<T extends KubeObject> {
  /** Backend name for messages and metrics, e.g. `"kubernetes/lease"`. */
  readonly backend: string;
  /** The resource as RBAC names it, e.g. `"leases.coordination.k8s.io"`. */
  readonly resource: string;
  /** RBAC's apiGroups entry of the resource: `"coordination.k8s.io"`, or `""` for the core group. */
  readonly apiGroup: string;
  /** Where the record's token is stored, for messages, e.g. `"spec.leaseTransitions"`. */
  readonly tokenField: string;
  /** The largest token the object can store (int32 on a Lease, a safe JSON integer in an annotation). */
  readonly maxToken: number;
  /** The API calls on this kind of object. */
  readonly calls: ResourceCalls<T>;
  /**
   * The identity the object asks the holder to hand over to (a Lease's `spec.preferredHolder`), or
   * undefined when it asks for none. Kinds without such a field leave this out.
   */
  preferredHolder?(object: T): string | undefined;

  /**
   * Whether one watch of all this kind's objects in the namespace may serve the store's watches
   * (KubernetesLockOptions.sharedWatch). True for Leases; Endpoints and ConfigMaps are left out: a
   * namespace holds many of them that are no locks, large and often changing (every Service's
   * endpoints, application configuration), and a shared watch would stream them all.
   */
  readonly namespaceWatch?: boolean;
  /** The record an object holds, or why it holds none that can be read. */
  decode(object: T): DecodeResult;
  /**
   * The object to write: a new one when `base` is undefined, else `base` with the record put in and
   * everything else kept (labels, other annotations, data), as client-go does.
   */
  encode(base: T | undefined, name: string, namespace: string, record: LeaderRecord): T;
  /** Throws INVALID_ARGUMENT when `record` cannot be stored in this kind of object. */
  validate(record: LeaderRecord, election: string): void;
}

/** managedFields are the server's bookkeeping; leaving them out of a replace keeps them as they are. */
export function withoutManagedFields<M extends { managedFields?: unknown }>(metadata: M): M {
  const { managedFields: _managed, ...rest } = metadata;
  return rest as M;
}
