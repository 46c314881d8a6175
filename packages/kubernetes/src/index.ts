export { AnnotationLock, type AnnotationLockOptions, type AnnotationObjectKind } from "./annotation-lock.js";
export { defaultKubeConfig, type KubernetesLockOptions } from "./client.js";
export { LeaseLock, type LeaseLockOptions, leaseToRecord, recordToLeaseSpec } from "./lease-lock.js";
export {
  MigrationLock,
  type MigrationLockOptions,
  mergeSnapshots,
  UNKNOWN_LEADER,
} from "./migration-lock.js";
export { KubernetesObjectLock } from "./object-lock.js";
export { encodeAnnotation, LEADER_ANNOTATION, toMicroTime, toSecondTime } from "./wire.js";
