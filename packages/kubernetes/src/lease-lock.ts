import { CoordinationV1Api, type V1Lease, type V1LeaseSpec } from "@kubernetes/client-node";
import type { DecodeResult, LeaderRecord } from "@tenure/core";
import { recordFromObject } from "@tenure/core";
import { defaultKubeConfig, type KubernetesLockOptions, lockSettings } from "./client.js";
import { type ObjectKind, withoutManagedFields } from "./object-kind.js";
import { KubernetesObjectLock } from "./object-lock.js";
import { assertKubernetesRecord, ExactMicroTime, INT32_MAX, toMicroTime } from "./wire.js";

export interface LeaseLockOptions extends KubernetesLockOptions {
  /** An existing client to make the calls with (its configuration, middleware and credentials). */
  readonly client?: CoordinationV1Api;
}

const BACKEND = "kubernetes/lease";

/** A MicroTime as the record's RFC 3339 text. The generated client hands MicroTime over as the JSON string. */
function timeText(value: unknown): unknown {
  if (value === undefined || value === null) return "";
  if (value instanceof Date) return value.toISOString();
  return value;
}

/** The record a Lease holds, field for field as client-go's LeaseSpecToLeaderElectionRecord maps it. */
export function leaseToRecord(lease: V1Lease): DecodeResult {
  const spec: V1LeaseSpec = lease.spec ?? {};
  return recordFromObject({
    holderIdentity: spec.holderIdentity ?? "",
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: timeText(spec.acquireTime),
    renewTime: timeText(spec.renewTime),
    leaderTransitions: spec.leaseTransitions ?? 0,
  });
}

/**
 * The Lease spec for a record (client-go's LeaderElectionRecordToLeaseSpec). Every other spec field
 * of `base` is kept — `strategy`, `preferredHolder` and any field a later API version adds — which
 * client-go's plain path does not do (it writes a fresh spec). One exception: `preferredHolder` is
 * dropped once the record makes that very candidate the holder, as the coordinator does when it
 * hands the Lease over; the request is then fulfilled, and left in place it would ask every later
 * holder to step down.
 */
export function recordToLeaseSpec(record: LeaderRecord, base?: V1LeaseSpec): V1LeaseSpec {
  const { acquireTime: _acquire, renewTime: _renew, preferredHolder, ...kept } = base ?? {};
  const stillAsked = preferredHolder !== undefined && preferredHolder !== record.holderIdentity;
  const spec: V1LeaseSpec = {
    ...kept,
    ...(stillAsked ? { preferredHolder } : {}),
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    leaseTransitions: record.leaderTransitions,
  };
  const acquireTime = toMicroTime(record.acquireTime);
  const renewTime = toMicroTime(record.renewTime);
  if (acquireTime !== undefined) spec.acquireTime = new ExactMicroTime(acquireTime);
  if (renewTime !== undefined) spec.renewTime = new ExactMicroTime(renewTime);
  return spec;
}

function leaseKind(api: CoordinationV1Api): ObjectKind<V1Lease> {
  return {
    backend: BACKEND,
    resource: "leases.coordination.k8s.io",
    apiGroup: "coordination.k8s.io",
    tokenField: "the Lease's spec.leaseTransitions (int32)",
    maxToken: INT32_MAX,
    namespaceWatch: true,
    calls: {
      read: api.readNamespacedLease.bind(api),
      create: api.createNamespacedLease.bind(api),
      replace: api.replaceNamespacedLease.bind(api),
      list: api.listNamespacedLease.bind(api),
    },
    decode: leaseToRecord,
    preferredHolder: (lease) => lease.spec?.preferredHolder || undefined,
    encode: (base, name, namespace, record) => ({
      ...base,
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: withoutManagedFields(base?.metadata ?? { name, namespace }),
      spec: recordToLeaseSpec(record, base?.spec),
    }),
    validate: (record, election) => assertKubernetesRecord(record, { backend: BACKEND, election }, true),
  };
}

/**
 * The lock today's Kubernetes components use: a `coordination.k8s.io/v1` Lease named after the
 * election, with the record in its spec (holderIdentity, leaseDurationSeconds, acquireTime and
 * renewTime as MicroTime, leaseTransitions), wire-compatible with client-go's LeaseLock.
 */
export class LeaseLock extends KubernetesObjectLock<V1Lease> {
  constructor(options: LeaseLockOptions = {}) {
    const settings = lockSettings(options, BACKEND);
    const api =
      options.client ?? (options.kubeConfig ?? defaultKubeConfig(BACKEND)).makeApiClient(CoordinationV1Api);
    super(leaseKind(api), settings);
  }
}
