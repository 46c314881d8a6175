/**
 * Every failure Tenure reports is a {@link TenureError} with a stable `code`. Callers branch on
 * `code`, never on message text; messages are for humans and name the backend, the election and
 * what to do about it.
 */
export type ErrorCode =
  /** A compare-and-swap lost: the record exists already (create) or its version moved (update). */
  | "CONFLICT"
  /** The store could not be reached or did not answer in time. Retrying later may succeed. */
  | "UNAVAILABLE"
  /** The store refused the credentials or the operation (for example a missing RBAC rule). */
  | "PERMISSION_DENIED"
  /** An option, a name or a record was malformed; the message names the field and the rule. */
  | "INVALID_ARGUMENT"
  /** A stored lock record could not be decoded. */
  | "CORRUPT_RECORD"
  /** The store or elector was used after `close()` / `stop()`. */
  | "CLOSED"
  /** This candidate does not lead (any more): its term ended, or never began. */
  | "NOT_LEADER"
  /** A consumer fell too far behind (an `events()` iterator nobody reads); it was ended. */
  | "OVERFLOW"
  /**
   * The server does not offer what the operation needs (an API that is not enabled, such as
   * Kubernetes' LeaseCandidate). Retrying will not help until the server is configured for it.
   */
  | "UNSUPPORTED"
  /** A bug or an answer from the store that makes no sense; please report it. */
  | "INTERNAL";

/** Where an error happened: which backend, which election, what operation. */
export interface ErrorContext {
  /** Backend name, for example `"redis"` or `"kubernetes/lease"`. */
  readonly backend?: string;
  /** The election (lock) name. */
  readonly election?: string;
  /** The store operation, for example `"update"`. */
  readonly operation?: string;
}

export interface TenureErrorOptions extends ErrorContext {
  /** The underlying error, kept for debugging. */
  readonly cause?: unknown;
  /** What the user can do about it; appended to the message. */
  readonly remedy?: string;
}

/** The base class of every error Tenure throws or reports. */
export class TenureError extends Error {
  override readonly name: string = "TenureError";
  readonly code: ErrorCode;
  readonly backend: string | undefined;
  readonly election: string | undefined;
  readonly operation: string | undefined;
  readonly remedy: string | undefined;

  constructor(code: ErrorCode, problem: string, options: TenureErrorOptions = {}) {
    super(
      formatMessage(problem, options),
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.backend = options.backend;
    this.election = options.election;
    this.operation = options.operation;
    this.remedy = options.remedy;
  }

  /** True when `error` is a TenureError, optionally with the given code. Works across package copies. */
  static is(error: unknown, code?: ErrorCode): error is TenureError {
    if (!(error instanceof Error)) return false;
    const candidate = error as Partial<TenureError>;
    if (typeof candidate.code !== "string" || !(error instanceof TenureError || isTenureName(error.name))) {
      return false;
    }
    return code === undefined || candidate.code === code;
  }
}

/** A lost compare-and-swap. The engine expects these; they are an outcome, not a failure. */
export class ConflictError extends TenureError {
  override readonly name = "ConflictError";
  constructor(problem: string, options: TenureErrorOptions = {}) {
    super("CONFLICT", problem, options);
  }
}

/** The store did not answer, or answered that it cannot serve the request now. */
export class UnavailableError extends TenureError {
  override readonly name = "UnavailableError";
  constructor(problem: string, options: TenureErrorOptions = {}) {
    super("UNAVAILABLE", problem, {
      remedy: "check that the store is running and reachable; the elector keeps retrying",
      ...options,
    });
  }
}

/** The store refused the operation for lack of permission. */
export class PermissionDeniedError extends TenureError {
  override readonly name = "PermissionDeniedError";
  constructor(problem: string, options: TenureErrorOptions = {}) {
    super("PERMISSION_DENIED", problem, options);
  }
}

/** A malformed option, name or record. `field` names what was wrong and `rule` what it must satisfy. */
export class InvalidArgumentError extends TenureError {
  override readonly name = "InvalidArgumentError";
  readonly field: string;
  readonly rule: string;
  constructor(field: string, rule: string, options: TenureErrorOptions = {}) {
    super("INVALID_ARGUMENT", `invalid ${field}: ${rule}`, options);
    this.field = field;
    this.rule = rule;
  }
}

/** The server does not offer what the operation needs (for example an API that is not enabled). */
export class UnsupportedError extends TenureError {
  override readonly name = "UnsupportedError";
  constructor(problem: string, options: TenureErrorOptions = {}) {
    super("UNSUPPORTED", problem, options);
  }
}

/** A stored record that cannot be decoded. The engine treats it as held by an unknown holder. */
export class CorruptRecordError extends TenureError {
  override readonly name = "CorruptRecordError";
  constructor(problem: string, options: TenureErrorOptions = {}) {
    super("CORRUPT_RECORD", problem, {
      remedy:
        "another program may be writing to this lock; the elector waits a full lease duration without change before taking it over",
      ...options,
    });
  }
}

/** An operation on a store or elector that was already closed or stopped. */
export class ClosedError extends TenureError {
  override readonly name = "ClosedError";
  constructor(problem: string, options: TenureErrorOptions = {}) {
    super("CLOSED", problem, options);
  }
}

/** Work was attempted under a leadership that is no longer (or never was) valid. */
export class NotLeaderError extends TenureError {
  override readonly name = "NotLeaderError";
  constructor(problem: string, options: TenureErrorOptions = {}) {
    super("NOT_LEADER", problem, {
      remedy: "stop the leader's work; pass the fencing token downstream so late writes are refused",
      ...options,
    });
  }
}

/**
 * Turns anything thrown by a store into a TenureError, keeping TenureErrors as they are.
 * Adapters map their client's errors first; this is the last line for surprises.
 */
export function toTenureError(error: unknown, context: ErrorContext = {}): TenureError {
  if (TenureError.is(error)) return error;
  const text = error instanceof Error ? error.message : String(error);
  return new TenureError("INTERNAL", `unexpected error: ${text}`, { ...context, cause: error });
}

const TENURE_NAMES = new Set([
  "TenureError",
  "ConflictError",
  "UnavailableError",
  "PermissionDeniedError",
  "InvalidArgumentError",
  "CorruptRecordError",
  "ClosedError",
  "NotLeaderError",
  "UnsupportedError",
]);

function isTenureName(name: string): boolean {
  return TENURE_NAMES.has(name);
}

function formatMessage(problem: string, context: TenureErrorOptions): string {
  const where = [
    context.backend === undefined ? undefined : `[${context.backend}]`,
    context.election === undefined ? undefined : `election "${context.election}"`,
    context.operation === undefined ? undefined : `${context.operation}:`,
  ]
    .filter((part) => part !== undefined)
    .join(" ");
  const head = where === "" ? problem : `${where.endsWith(":") ? where : `${where}:`} ${problem}`;
  return context.remedy === undefined ? head : `${head} (${context.remedy})`;
}
