import type { ErrorContext, LeaderRecord, Snapshot } from "@tenure/core";
import { TenureError } from "@tenure/core";
import { decodeRecord, encodeRecord, snapshotOf } from "@tenure/core/adapter";
import type { Reply } from "./connection.js";

/** How the read script names a deleted lock's version (see TOMBSTONE in scripts.ts). */
export const TOMBSTONE_PREFIX = "deleted-";

/** A script's `false`: nil over RESP2 and RESP3 alike, but a boolean if a client maps replies so. */
export function isNil(reply: Reply): boolean {
  return reply === null || reply === false;
}

/** A snapshot from the read script's reply. */
export function readSnapshot(reply: Reply, context: ErrorContext): Snapshot | null {
  if (isNil(reply)) return null;
  if (!Array.isArray(reply) || reply.length !== 3 || !reply.every((item) => typeof item === "string")) {
    throw internal(`unexpected reply to the read script: ${JSON.stringify(reply)}`, context);
  }
  const [version, text, kind] = reply as [string, string, string];
  if (kind === "deleted") return { version, record: null, deleted: true };
  if (kind !== "hash") {
    return { version, record: null, corruption: `the key holds a Redis ${kind}, not the hash Tenure writes` };
  }
  if (text === "") return { version, record: null, corruption: "the hash has no record field" };
  const decoded = decodeRecord(text);
  return snapshotOf(
    version,
    "record" in decoded ? decoded : { corruption: `record field: ${decoded.corruption}` },
  );
}

/** The snapshot a successful create or update committed: the script answers `{version, record}`. */
export function writtenSnapshot(reply: Reply, context: ErrorContext): Snapshot {
  if (!Array.isArray(reply) || reply.length !== 2 || !reply.every((item) => typeof item === "string")) {
    throw internal(`unexpected reply to a write script: ${JSON.stringify(reply)}`, context);
  }
  const [version, value] = reply as [string, string];
  return snapshotOf(version, decodeRecord(value));
}

/** The snapshot a script published (`<version>\n<record JSON>`), or undefined for anything else. */
export function publishedSnapshot(message: string): Snapshot | undefined {
  const newline = message.indexOf("\n");
  const version = message.slice(0, Math.max(newline, 0));
  if (!/^[1-9][0-9]*$/.test(version)) return undefined;
  return snapshotOf(version, decodeRecord(message.slice(newline + 1)));
}

/**
 * The record's JSON cut before its token, and the token, for the scripts that raise it
 * (WITH_TOKEN_FLOOR): `encodeRecord` writes `leaderTransitions` last, so the JSON is the prefix, the
 * number and a closing brace.
 */
export function splitToken(record: LeaderRecord, context: ErrorContext): [string, string] {
  const value = encodeRecord(record);
  const token = String(record.leaderTransitions);
  const prefix = value.slice(0, value.length - token.length - 1);
  if (!prefix.endsWith('"leaderTransitions":') || `${prefix}${token}}` !== value) {
    throw internal("the encoded record does not end with its token", context);
  }
  return [prefix, token];
}

/**
 * The order of two versions handed out by the scripts (decimal strings of a counter that only
 * grows): negative when `a` came first. Undefined when either is not one (a `raw-` token of content
 * another program wrote, a tombstone), since those have no order.
 */
function compareVersions(a: string, b: string): number | undefined {
  const digits = /^\d+$/;
  if (!digits.test(a) || !digits.test(b)) return undefined;
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether both versions were handed out by the scripts and `candidate` came before `other`. */
export function isOlder(candidate: string, other: string): boolean {
  const order = compareVersions(candidate, other);
  return order !== undefined && order < 0;
}

/** Whether version `candidate` was committed after `last` (versions written by the scripts only grow). */
export function isNewer(candidate: string, last: string): boolean {
  const order = compareVersions(candidate, last);
  // A token of content written by another program has no order; anything published after it is news.
  return order === undefined ? candidate !== last : order > 0;
}

/**
 * The newest snapshot of each election a store has returned from a read or a write. A watch never
 * yields anything older: its messages travel on another connection and may arrive after the answer
 * to a later write of this very store, and an engine that had just acquired the lock would take the
 * late, older state (the previous holder's, or "absent") for a takeover.
 */
export class NewestSnapshots {
  readonly #newest = new Map<string, Snapshot>();

  /** The newest snapshot of `election` noted so far. */
  get(election: string): Snapshot | undefined {
    return this.#newest.get(election);
  }

  /** Remembers `snapshot` as the newest of `election` if it is; returns it. */
  note(election: string, snapshot: Snapshot): Snapshot {
    const known = this.#newest.get(election);
    if (known === undefined || !isOlder(snapshot.version, known.version))
      this.#newest.set(election, snapshot);
    return snapshot;
  }
}

function internal(problem: string, context: ErrorContext): TenureError {
  return new TenureError("INTERNAL", problem, {
    ...context,
    remedy: "this is a bug or an incompatible server; please report it",
  });
}
