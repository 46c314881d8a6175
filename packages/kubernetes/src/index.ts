export { AnnotationLock, type AnnotationLockOptions, type AnnotationObjectKind } from "./annotation-lock.js";
export { defaultKubeConfig, type KubernetesLockOptions } from "./client.js";
export {
  LEASE_CANDIDATE_API_VERSION,
  LeaseCandidate,
  type LeaseCandidateOptions,
  OLDEST_EMULATION_VERSION,
  type PingAnswer,
} from "./lease-candidate.js";
export { LeaseLock, type LeaseLockOptions, leaseToRecord, recordToLeaseSpec } from "./lease-lock.js";
export { type MigrationHalf, MigrationLock, type MigrationLockOptions } from "./migration-lock.js";
export { mergeSnapshots, UNKNOWN_LEADER } from "./migration-merge.js";
export { KubernetesObjectLock } from "./object-lock.js";
export { encodeAnnotation, LEADER_ANNOTATION, toMicroTime, toSecondTime } from "./wire.js";
