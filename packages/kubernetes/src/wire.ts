import { V1MicroTime } from "@kubernetes/client-node";
import type { LeaderRecord } from "@tenure/core";
import { assertValidRecord, formatRfc3339, InvalidArgumentError } from "@tenure/core";

/** The annotation the 2016 recipe and client-go's Endpoints / ConfigMap locks keep the record in. */
export const LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader";

/** Largest value of a Kubernetes int32 field (Lease leaseDurationSeconds and leaseTransitions). */
export const INT32_MAX = 2_147_483_647;

const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

interface ParsedTime {
  /** `YYYY-MM-DDTHH:MM:SS` in UTC. */
  readonly seconds: string;
  /** The fractional digits as written (may be empty). */
  readonly fraction: string;
}

function parseTime(text: string): ParsedTime | undefined {
  const match = RFC3339.exec(text);
  if (match === null) return undefined;
  const [, date, time, fraction = "", zone = "Z"] = match;
  const ms = Date.parse(`${date}T${time}${zone.toUpperCase()}`);
  if (Number.isNaN(ms)) return undefined;
  return { seconds: new Date(ms).toISOString().slice(0, 19), fraction };
}

/**
 * A record time as a Lease's MicroTime: RFC 3339 in UTC with exactly 6 fractional digits (the
 * apiserver refuses anything else). Digits beyond the 6th are dropped; a time written with
 * microseconds by client-go keeps them. `""` (no time) stays `undefined`.
 */
export function toMicroTime(text: string): string | undefined {
  if (text === "") return undefined;
  const parsed = parseTime(text);
  if (parsed === undefined) throw new Error(`not an RFC 3339 time: ${JSON.stringify(text)}`);
  return `${parsed.seconds}.${parsed.fraction.padEnd(6, "0").slice(0, 6)}Z`;
}

/** A record time as client-go's `metav1.Time` JSON: RFC 3339, whole seconds, UTC; `null` for no time. */
export function toSecondTime(text: string): string | null {
  if (text === "") return null;
  const parsed = parseTime(text);
  if (parsed === undefined) throw new Error(`not an RFC 3339 time: ${JSON.stringify(text)}`);
  return formatRfc3339(new Date(`${parsed.seconds}Z`), 0);
}

/**
 * A V1MicroTime that serializes to exactly the given text. The client's own V1MicroTime pads a
 * JavaScript Date's milliseconds with "000", which would drop the microseconds a client-go writer
 * put there; the generated serializer passes MicroTime values through to JSON.stringify, which calls
 * toISOString via Date#toJSON.
 */
export class ExactMicroTime extends V1MicroTime {
  readonly #text: string;
  constructor(text: string) {
    super(Date.parse(text));
    this.#text = text;
  }
  override toISOString(): string {
    return this.#text;
  }
}

/**
 * Checks a record against what Kubernetes can store, beyond the core's checks: whole-second
 * durations (client-go's `int` / the Lease's int32), RFC 3339 times, and int32 bounds on a Lease.
 */
export function assertKubernetesRecord(
  record: LeaderRecord,
  context: { backend: string; election: string },
  int32Transitions: boolean,
): void {
  assertValidRecord(record, context);
  if (!Number.isInteger(record.leaseDurationSeconds) || record.leaseDurationSeconds > INT32_MAX) {
    throw new InvalidArgumentError(
      "record.leaseDurationSeconds",
      `must be a whole number of seconds up to ${INT32_MAX}: Kubernetes stores lease durations as integers (got ${record.leaseDurationSeconds})`,
      context,
    );
  }
  if (int32Transitions && record.leaderTransitions > INT32_MAX) {
    throw new InvalidArgumentError(
      "record.leaderTransitions",
      `must be at most ${INT32_MAX}: a Lease stores leaseTransitions as int32`,
      context,
    );
  }
  for (const field of ["acquireTime", "renewTime"] as const) {
    const value = record[field];
    if (value !== "" && parseTime(value) === undefined) {
      throw new InvalidArgumentError(
        `record.${field}`,
        `must be an RFC 3339 time or "" (got ${value})`,
        context,
      );
    }
  }
}

/** The annotation value client-go writes: its field order, times in whole seconds, `null` for no time. */
export function encodeAnnotation(record: LeaderRecord): string {
  return JSON.stringify({
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    acquireTime: toSecondTime(record.acquireTime),
    renewTime: toSecondTime(record.renewTime),
    leaderTransitions: record.leaderTransitions,
  });
}
