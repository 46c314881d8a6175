export type { AdvertisedCandidate } from "./candidacy.js";
export { candidatesRecordName, decodeCandidate, encodeCandidate } from "./candidacy.js";
export type { Clock } from "./clock.js";
export { systemClock } from "./clock.js";
export type { ElectionTiming } from "./config.js";
export {
  assertValidElectionName,
  assertValidIdentity,
  assertValidTiming,
  clockDriftTolerance,
  DEFAULT_TIMING,
  JITTER_FACTOR,
} from "./config.js";
export type {
  CurrentLeader,
  ElectorOptions,
  ElectorStatus,
  HandOverResult,
  Leadership,
  ResignOptions,
  StopOptions,
  WhenLeadingOptions,
} from "./elector.js";
export { Elector } from "./elector.js";
export type { ErrorCode, ErrorContext, TenureErrorOptions } from "./errors.js";
export {
  ClosedError,
  ConflictError,
  CorruptRecordError,
  InvalidArgumentError,
  NotLeaderError,
  PermissionDeniedError,
  TenureError,
  toTenureError,
  UnavailableError,
  UnsupportedError,
} from "./errors.js";
export type { ElectorEvent, IterateOptions } from "./events.js";
export { DEFAULT_MAX_BUFFERED_EVENTS } from "./events.js";
export type { HealthCheckOptions, HealthReport } from "./health.js";
export { createHealthCheck } from "./health.js";
export type {
  HealthCheck,
  HealthCheckResult,
  HealthFailure,
  HealthPolicyOptions,
  UnhealthyAction,
} from "./health-policy.js";
export type { ConsoleLoggerOptions, LogFields, Logger, LogLevel } from "./logger.js";
export { createConsoleLogger, silentLogger } from "./logger.js";
export type {
  Effect,
  Handover,
  HandoverOutcome,
  Instant,
  LeaderView,
  MachineConfig,
  MachineEvent,
  MachineState,
  Observation,
  OperationResult,
  Purpose,
  Role,
  StepDownReason,
  StepResult,
  Term,
} from "./machine.js";
export { currentLeader, initialState, isLeading, isOfferedTerm, observedExpiryMs, step } from "./machine.js";
export type {
  LeaderObservation,
  ObserveItem,
  ObserveOptions,
  ObserverError,
} from "./observe.js";
export { observe } from "./observe.js";
export type { DecodeResult, LeaderRecord, Snapshot } from "./record.js";
export {
  assertValidRecord,
  decodeRecord,
  encodeRecord,
  formatRfc3339,
  MAX_IDENTITY_LENGTH,
  recordFromObject,
  snapshotOf,
} from "./record.js";
export type { LockStore, OperationOptions, StoreCapabilities } from "./store.js";
