/**
 * Candidates with a priority, made visible through the LockStore interface alone: one small record
 * per election (under {@link candidatesRecordName}) names the highest-priority candidate that is
 * running and not leading. Only electors created with a `priority` read or write it, so elections
 * that do not use priorities pay nothing.
 *
 * The record is a LeaderRecord, so every adapter stores it as it stores a lock: `holderIdentity` is
 * the priority, a space and the identity (`"10 worker-b"`); `leaseDurationSeconds` how long the
 * claim lasts without a change; `renewTime` the writer's wall clock, for humans. Liveness is judged
 * as for the lock, on the reader's monotonic clock: a claim lives for its lease after the reader
 * first saw its version, and the candidate that holds it writes again every third of a lease.
 *
 * Nothing here decides who leads: it only chooses a successor for `handOver()` and tells a leader
 * when a stronger candidate has been waiting for the stability delay. The handover itself is what
 * keeps terms apart (see machine.ts); a stale or wrong choice costs at most a lease of waiting.
 */
import { boundedCall } from "./adapter/bounded-call.js";
import type { Clock } from "./clock.js";
import { InvalidArgumentError } from "./errors.js";
import type { Logger } from "./logger.js";
import type { LeaderRecord, Snapshot } from "./record.js";
import { formatRfc3339 } from "./record.js";
import type { LockStore } from "./store.js";

/** The name of an election's candidate record: `<election>.candidates`. */
export function candidatesRecordName(election: string): string {
  return `${election}${CANDIDATES_SUFFIX}`;
}

export const CANDIDATES_SUFFIX = ".candidates";

/** A candidate as the candidate record names it. */
export interface AdvertisedCandidate {
  readonly identity: string;
  readonly priority: number;
}

/** The candidate record's `holderIdentity` for a candidate: its priority, a space, its identity. */
export function encodeCandidate(candidate: AdvertisedCandidate): string {
  return `${candidate.priority} ${candidate.identity}`;
}

/** The candidate a `holderIdentity` names, or `null` when it names none (empty, or not this format). */
export function decodeCandidate(holderIdentity: string): AdvertisedCandidate | null {
  const match = /^(\d{1,15}) (.+)$/s.exec(holderIdentity);
  if (match === null) return null;
  return { priority: Number(match[1]), identity: match[2] as string };
}

/** Highest priority accepted: it is written in decimal into the candidate record. */
export const MAX_PRIORITY = 999_999_999_999_999;

/**
 * Checks an elector's `priority` and `preemptAfterMs` options; returns the priority (`undefined`:
 * none, the candidate is not advertised). Throws InvalidArgumentError naming the field and the rule.
 */
export function checkPriorityOptions(
  options: { readonly name: string; readonly priority?: number; readonly preemptAfterMs?: number },
  context: { backend?: string; election?: string },
): number | undefined {
  const { priority, preemptAfterMs } = options;
  if (preemptAfterMs !== undefined) {
    if (priority === undefined) {
      throw new InvalidArgumentError("preemptAfterMs", "needs `priority` to be set as well", context);
    }
    if (!Number.isFinite(preemptAfterMs) || preemptAfterMs < 0) {
      throw new InvalidArgumentError(
        "preemptAfterMs",
        `must be a non-negative number of milliseconds, got ${preemptAfterMs}`,
        context,
      );
    }
  }
  if (priority === undefined) return undefined;
  if (!Number.isSafeInteger(priority) || priority < 0 || priority > MAX_PRIORITY) {
    throw new InvalidArgumentError(
      "priority",
      `must be an integer from 0 to ${MAX_PRIORITY}, got ${priority}`,
      context,
    );
  }
  if (options.name.length + CANDIDATES_SUFFIX.length > 253) {
    throw new InvalidArgumentError(
      "name",
      `must be at most ${253 - CANDIDATES_SUFFIX.length} characters with \`priority\`: the candidate record is named "<name>${CANDIDATES_SUFFIX}"`,
      context,
    );
  }
  return priority;
}

export interface CandidacyOptions {
  readonly store: LockStore;
  /** The election's name; the record is {@link candidatesRecordName} of it. */
  readonly election: string;
  readonly identity: string;
  readonly priority: number;
  readonly leaseDurationMs: number;
  /** How often the record is read (and, by the top candidate, written every third of a lease). */
  readonly retryPeriodMs: number;
  readonly operationTimeoutMs: number;
  /** A leader yields to a stronger candidate seen this long without a break; `undefined`: never. */
  readonly preemptAfterMs: number | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Whether this candidate leads now. */
  isLeading(): boolean;
  /** The leader as this candidate sees it now, or `null`. */
  leader(): string | null;
  /** A stronger candidate has been advertised for `preemptAfterMs` while this one led. */
  yieldTo(identity: string): void;
}

interface Sighting {
  /** `null`: the record does not exist (or was deleted without a tombstone). */
  readonly snapshot: Snapshot | null;
  /** When this version was first seen, on the monotonic clock. */
  readonly observedAtMs: number;
}

/** One candidate's part in its election's candidate record. */
export class Candidacy {
  readonly #options: CandidacyOptions;
  readonly #recordName: string;
  #sighting: Sighting | undefined;
  #lastWriteMs = Number.NEGATIVE_INFINITY;
  /** The stronger candidate a leader has been seeing, and since when. */
  #challenger: { readonly identity: string; readonly sinceMs: number } | null = null;
  #running = false;
  #cancelTimer: (() => void) | undefined;
  readonly #calls = new AbortController();

  constructor(options: CandidacyOptions) {
    this.#options = options;
    this.#recordName = candidatesRecordName(options.election);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(0);
  }

  stop(): void {
    this.#running = false;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#calls.abort();
  }

  /**
   * Stops, and clears this candidate's claim if the record still names it, so that a leader does not
   * pick a candidate that has left (it would lose a lease waiting for it). Best effort: a claim that
   * cannot be cleared lapses after its lease anyway. Never rejects.
   */
  async withdraw(): Promise<void> {
    this.stop();
    const current = this.#sighting?.snapshot ?? null;
    if (current?.record === null || current === null) return;
    if (this.#advertised()?.candidate.identity !== this.#options.identity) return;
    const stamp = formatRfc3339(this.#options.clock.wallTime(), 6);
    const released: LeaderRecord = { ...current.record, holderIdentity: "", renewTime: stamp };
    // Not under #calls: the elector stopping (which stops this loop again) must not cut this call short.
    await this.#call(
      (signal) => this.#options.store.update(this.#recordName, released, current.version, { signal }),
      null,
    ).then(
      (snapshot) => this.#see(snapshot),
      () => {},
    );
  }

  /**
   * The highest-priority candidate other than this one that is running and not leading, as last
   * read: named by the record, and its claim changed within its lease on this candidate's clock.
   */
  best(nowMs = this.#options.clock.now()): AdvertisedCandidate | null {
    const advertised = this.#advertised();
    if (advertised === null || this.#sighting === undefined) return null;
    const { candidate, record } = advertised;
    if (candidate.identity === this.#options.identity) return null;
    if (nowMs >= this.#sighting.observedAtMs + record.leaseDurationSeconds * 1000) return null;
    return candidate;
  }

  #advertised(): { candidate: AdvertisedCandidate; record: LeaderRecord } | null {
    const record = this.#sighting?.snapshot?.record ?? null;
    if (record === null) return null;
    const candidate = decodeCandidate(record.holderIdentity);
    return candidate === null ? null : { candidate, record };
  }

  #schedule(delayMs: number): void {
    if (!this.#running) return;
    this.#cancelTimer = this.#options.clock.setTimer(delayMs, () => {
      this.#cancelTimer = undefined;
      void this.#tick();
    });
  }

  async #tick(): Promise<void> {
    try {
      this.#see(await this.#call((signal) => this.#options.store.get(this.#recordName, { signal })));
      if (!this.#running) return;
      if (!this.#options.isLeading()) await this.#advertise();
      this.#considerYielding();
    } catch (error) {
      // A failed read or write only leaves the view older; the next round tries again.
      this.#options.logger.debug("candidate record call failed", {
        election: this.#options.election,
        error,
      });
    } finally {
      this.#schedule(this.#options.retryPeriodMs);
    }
  }

  /** One store call, bounded by the operation timeout and cut short by stop() unless `stoppable` is null. */
  #call<T>(
    run: (signal: AbortSignal) => Promise<T>,
    stoppable: AbortSignal | null = this.#calls.signal,
  ): Promise<T> {
    return boundedCall(
      {
        timeoutMs: this.#options.operationTimeoutMs,
        clock: this.#options.clock,
        signal: stoppable ?? undefined,
        context: { backend: this.#options.store.backend, election: this.#recordName },
      },
      run,
    );
  }

  #see(snapshot: Snapshot | null): void {
    const nowMs = this.#options.clock.now();
    const previous = this.#sighting;
    const sameVersion =
      previous !== undefined &&
      (previous.snapshot === null ? snapshot === null : previous.snapshot.version === snapshot?.version);
    if (!sameVersion) this.#sighting = { snapshot, observedAtMs: nowMs };
  }

  /**
   * Claims the record when it names nobody stronger that is live (or names the leader, who no longer
   * competes), and keeps a claim of its own fresh. Equal priorities keep the claim in place, so two
   * candidates of one priority do not take turns writing.
   */
  async #advertise(): Promise<void> {
    const options = this.#options;
    const nowMs = options.clock.now();
    const advertised = this.#advertised();
    const sighting = this.#sighting;
    const mine = advertised?.candidate.identity === options.identity;
    const live =
      advertised !== null &&
      sighting !== undefined &&
      nowMs < sighting.observedAtMs + advertised.record.leaseDurationSeconds * 1000;
    const weaker =
      advertised === null ||
      !live ||
      advertised.candidate.identity === options.leader() ||
      advertised.candidate.priority < options.priority;
    if (mine ? nowMs - this.#lastWriteMs < options.leaseDurationMs / 3 : !weaker) return;
    const stamp = formatRfc3339(options.clock.wallTime(), 6);
    const current = sighting?.snapshot ?? null;
    const record: LeaderRecord = {
      holderIdentity: encodeCandidate({ identity: options.identity, priority: options.priority }),
      leaseDurationSeconds: options.leaseDurationMs / 1000,
      acquireTime: mine && advertised !== null ? advertised.record.acquireTime : stamp,
      renewTime: stamp,
      leaderTransitions: current?.record?.leaderTransitions ?? 0,
    };
    const sentAtMs = nowMs;
    const written = await this.#call((signal) =>
      current === null
        ? options.store.create(this.#recordName, record, { signal })
        : options.store.update(this.#recordName, record, current.version, { signal }),
    );
    this.#lastWriteMs = sentAtMs;
    this.#see(written);
  }

  #considerYielding(): void {
    const options = this.#options;
    if (options.preemptAfterMs === undefined || !options.isLeading()) {
      this.#challenger = null;
      return;
    }
    const nowMs = options.clock.now();
    const best = this.best(nowMs);
    if (best === null || best.priority <= options.priority) {
      this.#challenger = null;
      return;
    }
    if (this.#challenger?.identity !== best.identity)
      this.#challenger = { identity: best.identity, sinceMs: nowMs };
    if (nowMs - this.#challenger.sinceMs < options.preemptAfterMs) return;
    this.#challenger = null;
    options.logger.info(`yielding to ${best.identity} (priority ${best.priority} > ${options.priority})`, {
      election: options.election,
    });
    options.yieldTo(best.identity);
  }
}
