import type { DecodeResult, LeaderRecord, Snapshot } from "@tenure/core";
import { snapshotOf } from "@tenure/core/adapter";
import { versionOrder } from "./newest-state.js";

/**
 * The holder a migration lock reports when its two objects name different holders, as client-go's
 * MultiLock does (`leaderelection.k8s.io/unknown`): nobody in this fleet may treat the lock as its own
 * or as free until it has stayed unchanged for a whole lease.
 */
export const UNKNOWN_LEADER = "leaderelection.k8s.io/unknown";

/** A composite version: the primary's and the secondary's versions, `null` where that object is missing. */
export type VersionPair = readonly [string | null, string | null];

/** The composite version of a pair. */
function encodeVersion(pair: VersionPair): string {
  return JSON.stringify(pair);
}

/** The pair of a composite version; undefined for anything this lock never handed out. */
export function decodeVersion(version: string): VersionPair | undefined {
  try {
    const parsed: unknown = JSON.parse(version);
    if (
      Array.isArray(parsed) &&
      parsed.length === 2 &&
      parsed.every((part) => part === null || (typeof part === "string" && part !== ""))
    ) {
      return [parsed[0] as string | null, parsed[1] as string | null];
    }
  } catch {
    // not one of ours: treated as a version that moved
  }
  return undefined;
}

/**
 * Whether two records name the same term: same holder, lease duration and transition count. Their
 * times may differ: a renewal whose second half has not landed yet (or never will, if the leader
 * lost the network between the two writes) still says who leads, and since when it last wrote.
 */
function sameTerm(a: LeaderRecord, b: LeaderRecord): boolean {
  return (
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.leaderTransitions === b.leaderTransitions
  );
}

/**
 * Merges the two objects' states into the one the election sees.
 *
 * - one object missing: the other's record (the fleet on the other lock is the only writer so far);
 * - either undecodable: undecodable (the engine waits a full unchanged lease before taking over);
 * - same holder: that record, with the larger lease duration and transition count;
 * - different holders: UNKNOWN_LEADER with the larger lease duration and transition count, so no
 *   member of this fleet believes it holds the lock, or that it is free, on the strength of one half.
 */
export function mergeSnapshots(primary: Snapshot | null, secondary: Snapshot | null): Snapshot | null {
  if (primary === null && secondary === null) return null;
  const version = encodeVersion([primary?.version ?? null, secondary?.version ?? null]);
  return snapshotOf(version, merge(primary, secondary));
}

function merge(primary: Snapshot | null, secondary: Snapshot | null): DecodeResult {
  if (primary?.corruption !== undefined) return { corruption: `primary: ${primary.corruption}` };
  if (secondary?.corruption !== undefined) return { corruption: `secondary: ${secondary.corruption}` };
  const a = primary?.record ?? null;
  const b = secondary?.record ?? null;
  if (a === null || b === null) {
    const only = a ?? b;
    if (only === null) return { corruption: "neither object holds a record" };
    return { record: only };
  }
  const combined = {
    leaseDurationSeconds: Math.max(a.leaseDurationSeconds, b.leaseDurationSeconds),
    leaderTransitions: Math.max(a.leaderTransitions, b.leaderTransitions),
  };
  if (a.holderIdentity === b.holderIdentity) return { record: { ...a, ...combined } };
  return {
    record: {
      ...a,
      ...combined,
      holderIdentity: UNKNOWN_LEADER,
      // An empty-holder half would otherwise make the whole look released with a 0 s lease.
      leaseDurationSeconds: Math.max(combined.leaseDurationSeconds, 1),
    },
  };
}

/**
 * Whether a merged state can be reported by the watch: both objects missing, or both naming the same
 * term. A composite write that changes the term (an acquisition, a release, a new token) passes
 * through a state where only its first half landed; that state is not reported. See
 * MigrationLock.watch.
 */
function settled(primary: Snapshot | null, secondary: Snapshot | null): boolean {
  if (primary === null || secondary === null) return primary === secondary;
  if (primary.record === null || secondary.record === null) return false;
  return sameTerm(primary.record, secondary.record);
}

/** One state a side's watch reported, with the commit point it belongs to. */
interface Sighting {
  readonly point: bigint;
  readonly snapshot: Snapshot | null;
}

/**
 * Rebuilds the sequence of merged states from two independent watch streams. Each stream is in
 * commit order, but one may run ahead of the other: the primary stream can report a composite
 * write's primary half, and the next write's too, before the Lease stream reports the first write's
 * Lease half. Both objects live in one etcd, whose revisions (the resourceVersions) order all
 * commits, so the pair at each commit point can be rebuilt once both halves have arrived, and the
 * settled pairs reported in commit order. (A resourceVersion that is not a number, or a deletion,
 * which carries none through the watch, counts at its side's previous point.)
 */
export class PairTimeline {
  readonly #sides: [Sighting[], Sighting[]] = [[], []];
  #lastPoint: bigint | undefined;
  #lastVersion: string | null | undefined;

  /** Records one side's new state; returns the merged states now due, oldest first. */
  add(side: 0 | 1, snapshot: Snapshot | null): (Snapshot | null)[] {
    const sightings = this.#sides[side];
    const previous = sightings.at(-1)?.point ?? 0n;
    const order = snapshot === null ? undefined : versionOrder(snapshot.version);
    const point = order !== undefined && order > previous ? order : previous;
    sightings.push({ point, snapshot });
    const [primary, secondary] = this.#sides;
    if (primary.length === 0 || secondary.length === 0) return []; // still starting
    const due = this.#lastVersion === undefined ? this.#current() : this.#settledFrom(point);
    // Keep, per side, the state at the last reported point and everything after it.
    for (const list of this.#sides) {
      const keepFrom = list.findLastIndex((sighting) => sighting.point <= (this.#lastPoint ?? 0n));
      if (keepFrom > 0) list.splice(0, keepFrom);
    }
    return due;
  }

  /** The first report: the current state, whatever it is (the contract starts with it). */
  #current(): (Snapshot | null)[] {
    const [primary, secondary] = this.#sides;
    const first = mergeSnapshots(primary.at(-1)?.snapshot ?? null, secondary.at(-1)?.snapshot ?? null);
    this.#lastVersion = first?.version ?? null;
    this.#lastPoint = maxPoint(primary.at(-1)?.point ?? 0n, secondary.at(-1)?.point ?? 0n);
    return [first];
  }

  /** The settled pairs at the commit points from `point` on that were not reported yet, in commit order. */
  #settledFrom(point: bigint): (Snapshot | null)[] {
    const [primary, secondary] = this.#sides;
    const points = [...new Set([...primary, ...secondary].map((sighting) => sighting.point))]
      .filter(
        (candidate) => candidate >= point && (this.#lastPoint === undefined || candidate > this.#lastPoint),
      )
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const due: (Snapshot | null)[] = [];
    for (const at of points) {
      const a = stateAt(primary, at);
      const b = stateAt(secondary, at);
      if (a === undefined || b === undefined || !settled(a.snapshot, b.snapshot)) continue;
      const merged = mergeSnapshots(a.snapshot, b.snapshot);
      const version = merged?.version ?? null;
      if (version === this.#lastVersion) continue;
      due.push(merged);
      this.#lastVersion = version;
      this.#lastPoint = at;
    }
    return due;
  }
}

function stateAt(sightings: readonly Sighting[], point: bigint): Sighting | undefined {
  return sightings.findLast((sighting) => sighting.point <= point);
}

function maxPoint(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
