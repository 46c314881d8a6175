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
export type { ElectorOptions, ElectorStatus, Leadership, StopOptions } from "./elector.js";
export { Elector } from "./elector.js";
export type { ErrorCode, ErrorContext, TenureErrorOptions } from "./errors.js";
export {
  ClosedError,
  ConflictError,
  CorruptRecordError,
  InvalidArgumentError,
  PermissionDeniedError,
  TenureError,
  toTenureError,
  UnavailableError,
} from "./errors.js";
export type { ElectorEvent } from "./events.js";
export type { ConsoleLoggerOptions, LogFields, Logger, LogLevel } from "./logger.js";
export { createConsoleLogger, silentLogger } from "./logger.js";
export type {
  Effect,
  Instant,
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
export { initialState, isLeading, observedExpiryMs, step } from "./machine.js";
export type { DecodeResult, LeaderRecord, Snapshot } from "./record.js";
export {
  assertValidRecord,
  decodeRecord,
  encodeRecord,
  formatRfc3339,
  MAX_IDENTITY_LENGTH,
  recordFromObject,
} from "./record.js";
export type { LockStore, OperationOptions, StoreCapabilities } from "./store.js";
