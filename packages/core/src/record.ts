import { InvalidArgumentError } from "./errors.js";

/**
 * The lock record. Field names and meanings match client-go's `LeaderElectionRecord`, so the JSON
 * form is wire-compatible with the Kubernetes annotation lock and maps one to one onto a Lease.
 */
export interface LeaderRecord {
  /** Who holds the lock; `""` means nobody (the last holder released it). */
  readonly holderIdentity: string;
  /** The holder's lease duration. Whole seconds on Kubernetes; other stores may allow fractions. */
  readonly leaseDurationSeconds: number;
  /** When the current holder acquired the lock: RFC 3339, the writer's wall clock, for humans only. */
  readonly acquireTime: string;
  /** When the holder last renewed: RFC 3339, the writer's wall clock, for humans only. */
  readonly renewTime: string;
  /** Incremented each time a new leadership term starts; Tenure hands it out as the fencing token. */
  readonly leaderTransitions: number;
}

/**
 * One stored state of a lock together with its compare-and-swap version. Three kinds:
 * - a record the store holds;
 * - a value that cannot be decoded: `record` is `null` and `corruption` says why. The engine treats
 *   the lock as held by an unknown holder instead of overwriting it;
 * - a tombstone: the lock does not exist, but the store can tell that it did (a counter that outlives
 *   the lock), so it was deleted rather than never created. `deleted` is `true`. A deletion is not a
 *   release: the last holder may still be acting, so the engine creates the lock again only a full
 *   lease after it first saw the tombstone. Stores that cannot tell return `null` instead.
 */
export type Snapshot =
  | {
      readonly version: string;
      readonly record: LeaderRecord;
      readonly corruption?: undefined;
      readonly deleted?: undefined;
      /**
       * The identity the store asks the holder to hand the lock to (a Kubernetes Lease's
       * `spec.preferredHolder`, set by the Coordinated Leader Election coordinator or an operator).
       * Absent when nobody is asked for. An Elector with `yieldToPreferredHolder` releases when it
       * names someone else.
       */
      readonly preferredHolder?: string | undefined;
    }
  | {
      readonly version: string;
      readonly record: null;
      readonly corruption: string;
      readonly deleted?: undefined;
      readonly preferredHolder?: undefined;
    }
  | {
      readonly version: string;
      readonly record: null;
      readonly corruption?: undefined;
      readonly deleted: true;
      readonly preferredHolder?: undefined;
    };

/** The snapshot of a decoded value: the record, or a corrupt snapshot saying why it is not one. */
export function snapshotOf(version: string, decoded: DecodeResult): Snapshot {
  return "record" in decoded
    ? { version, record: decoded.record }
    : { version, record: null, corruption: decoded.corruption };
}

/** Field order of client-go's JSON encoding, kept so annotations read the same whoever wrote them. */
const FIELD_ORDER = [
  "holderIdentity",
  "leaseDurationSeconds",
  "acquireTime",
  "renewTime",
  "leaderTransitions",
] as const;

/** Encodes a record as the JSON client-go writes into the `control-plane.alpha.kubernetes.io/leader` annotation. */
export function encodeRecord(record: LeaderRecord): string {
  const ordered: Record<string, unknown> = {};
  for (const field of FIELD_ORDER) ordered[field] = record[field];
  return JSON.stringify(ordered);
}

/** The outcome of decoding a stored value: a record, or the reason it is not one. */
export type DecodeResult = { readonly record: LeaderRecord } | { readonly corruption: string };

/**
 * Decodes the JSON form of a record. Lenient where client-go is (a missing holder is `""`, a zero
 * time may be `null`), strict about types, so a value written by another program is reported as
 * corrupt rather than misread.
 */
export function decodeRecord(text: string): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { corruption: `not JSON (${error instanceof Error ? error.message : String(error)})` };
  }
  return recordFromObject(value);
}

/** Checks a decoded object (a JSON value, or fields mapped from a Lease) and returns it as a record. */
export function recordFromObject(value: unknown): DecodeResult {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { corruption: "not a JSON object" };
  }
  const fields = value as Record<string, unknown>;
  const holderIdentity = fields.holderIdentity ?? "";
  if (typeof holderIdentity !== "string") return { corruption: "holderIdentity is not a string" };
  const leaseDurationSeconds = fields.leaseDurationSeconds ?? 0;
  if (
    typeof leaseDurationSeconds !== "number" ||
    !Number.isFinite(leaseDurationSeconds) ||
    leaseDurationSeconds < 0
  ) {
    return { corruption: "leaseDurationSeconds is not a non-negative number" };
  }
  if (holderIdentity !== "" && leaseDurationSeconds === 0) {
    return { corruption: "leaseDurationSeconds is 0 while a holder is named" };
  }
  const leaderTransitions = fields.leaderTransitions ?? 0;
  if (
    typeof leaderTransitions !== "number" ||
    !Number.isSafeInteger(leaderTransitions) ||
    leaderTransitions < 0
  ) {
    return { corruption: "leaderTransitions is not a non-negative integer" };
  }
  const acquireTime = fields.acquireTime ?? "";
  const renewTime = fields.renewTime ?? "";
  if (typeof acquireTime !== "string") return { corruption: "acquireTime is not a string" };
  if (typeof renewTime !== "string") return { corruption: "renewTime is not a string" };
  return { record: { holderIdentity, leaseDurationSeconds, acquireTime, renewTime, leaderTransitions } };
}

/** Throws {@link InvalidArgumentError} naming the field when `record` may not be written. */
export function assertValidRecord(
  record: LeaderRecord,
  context: { backend?: string; election?: string } = {},
): void {
  const fail = (field: string, rule: string): never => {
    throw new InvalidArgumentError(`record.${field}`, rule, context);
  };
  if (typeof record !== "object" || record === null) fail("", "must be an object");
  if (typeof record.holderIdentity !== "string") fail("holderIdentity", "must be a string");
  if (record.holderIdentity.length > MAX_IDENTITY_LENGTH) {
    fail("holderIdentity", `must be at most ${MAX_IDENTITY_LENGTH} characters`);
  }
  if (!Number.isFinite(record.leaseDurationSeconds) || record.leaseDurationSeconds <= 0) {
    fail("leaseDurationSeconds", "must be a positive number");
  }
  if (!Number.isSafeInteger(record.leaderTransitions) || record.leaderTransitions < 0) {
    fail("leaderTransitions", "must be a non-negative integer");
  }
  if (typeof record.acquireTime !== "string") fail("acquireTime", "must be an RFC 3339 string");
  if (typeof record.renewTime !== "string") fail("renewTime", "must be an RFC 3339 string");
}

/** Longest identity accepted; client-go puts no limit, but a lock record should stay small. */
export const MAX_IDENTITY_LENGTH = 1024;

/**
 * Portable election names: a DNS-1123 subdomain (lower-case letters, digits, `-` and `.`, at most
 * 253 characters, starting and ending with a letter or digit). Kubernetes object names require it,
 * and holding every backend to the same rule lets an election move between backends unchanged.
 */
export function assertValidElectionName(
  name: unknown,
  context: { backend?: string } = {},
): asserts name is string {
  if (typeof name !== "string" || name.length === 0) {
    throw new InvalidArgumentError("name", "must be a non-empty string", context);
  }
  if (name.length > 253 || !ELECTION_NAME.test(name)) {
    throw new InvalidArgumentError(
      "name",
      `"${name}" must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', at most 253 characters, starting and ending with a letter or digit`,
      context,
    );
  }
}

const ELECTION_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Formats a wall-clock time as RFC 3339 in UTC with the given number of fractional digits:
 * 0 for client-go's annotation JSON (`metav1.Time`), 6 for a Lease (`metav1.MicroTime`).
 */
export function formatRfc3339(time: Date, fractionDigits: 0 | 3 | 6 = 3): string {
  const iso = time.toISOString(); // always YYYY-MM-DDTHH:mm:ss.sssZ
  const seconds = iso.slice(0, 19);
  if (fractionDigits === 0) return `${seconds}Z`;
  const millis = iso.slice(20, 23);
  return fractionDigits === 3 ? `${seconds}.${millis}Z` : `${seconds}.${millis}000Z`;
}
