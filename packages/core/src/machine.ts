/**
 * The election state machine: pure, no I/O, no timers. `step` takes the state, one event and the
 * current time, and returns the next state, the effects to perform (store calls, callbacks) and
 * when it next needs a `timer` event. The Elector runtime (elector.ts) performs the effects; tests
 * drive it directly with made-up times.
 *
 * Safety rests on three rules, argued in docs/architecture.md:
 * 1. A follower takes over only with a compare-and-swap on the version it last observed, and only a
 *    full lease after it first saw that version (its own monotonic clock, never stored timestamps);
 *    at once only when nobody can be acting on it: a released lock, a record this very elector
 *    wrote to start a term and no longer acts on, or a term handed over to this identity (see
 *    {@link isOfferedTerm}: its writer stopped acting before writing it, and nobody acts on an offer).
 * 2. A leader's right to act ends `renewDeadlineMs` after it SENT its last successful write.
 * 3. That deadline is checked before every event is applied, so no late timer or late answer can
 *    extend it.
 */
import type { ElectionTiming } from "./config.js";
import type { TenureError } from "./errors.js";
import type { LeaderRecord, Snapshot } from "./record.js";
import { formatRfc3339 } from "./record.js";

/** What the machine needs to know about the election and the store. */
export interface MachineConfig extends ElectionTiming {
  /** This candidate's identity, written as `holderIdentity`. */
  readonly identity: string;
  /** The store pushes changes; followers then never poll. */
  readonly watch: boolean;
  /**
   * A coordinator outside the candidates picks the holder (Kubernetes Coordinated Leader Election):
   * this candidate never creates the lock and never takes it over. It starts a term only when the
   * store names it as the holder, and then by a compare-and-swap on that very version, so the term
   * still begins with a write of its own (its safe-to-act interval counts from that write's send
   * time) and a new fencing token. Default false.
   */
  readonly coordinated?: boolean;
  /**
   * A leader that sees the store ask for another holder (`Snapshot.preferredHolder`) steps down and
   * releases at once, as `resign()` does; without coordination it then stays out for a lease, so
   * the preferred candidate can take over. Default false.
   */
  readonly yieldToPreferredHolder?: boolean;
}

/** The time at which an event is applied. */
export interface Instant {
  /** Monotonic milliseconds (the elector's clock). */
  readonly monotonicMs: number;
  /** Wall-clock time, only for the record's timestamps. */
  readonly wallTime: Date;
}

/** What the machine last saw in the store. */
export interface Observation {
  readonly version: string;
  /** `null` when the stored value could not be decoded, or the lock was deleted (`deleted`). */
  readonly record: LeaderRecord | null;
  /**
   * The lock was seen to disappear (or the store reported a tombstone). A deletion is not a release:
   * the last holder may still act, so the lock is brought back only `leaseMs` after the sighting.
   */
  readonly deleted: boolean;
  /**
   * The store's version of the tombstone, when it reported one: the lock is then brought back by a
   * compare-and-swap on it (a store with tombstones refuses a plain create). `null`: by a create.
   */
  readonly tombstoneVersion: string | null;
  /** When this version (or this deletion) was first seen, on the observer's monotonic clock. */
  readonly observedAtMs: number;
  /** How long after `observedAtMs` the observed lease stays valid. */
  readonly leaseMs: number;
}

/** The leader's own view of its current term. */
export interface Term {
  /** `leaderTransitions` of the record that started the term: strictly increasing per election. */
  readonly fencingToken: number;
  /** The record last written successfully. */
  readonly record: LeaderRecord;
  /** Its version, expected by the next renewal. */
  readonly version: string;
  /** The leader may act until this monotonic time: send time of the last successful write + renewDeadline. */
  readonly safeUntilMs: number;
}

export type Role = "follower" | "leader" | "releasing" | "stopped";

/** Why a store operation was sent. */
export type Purpose = "observe" | "acquire" | "renew" | "release" | "hand-over";

interface PendingOperation {
  readonly id: number;
  readonly purpose: Purpose;
  readonly sentAtMs: number;
  /** The version a write expects (`null`: a create expects no lock); `undefined` for a read. */
  readonly expectedVersion?: string | null | undefined;
}

export interface MachineState {
  readonly role: Role;
  /** `undefined`: not read yet; `null`: the lock does not exist. */
  readonly observed: Observation | null | undefined;
  readonly term: Term | null;
  /** The store operation in flight, if any. The machine sends one at a time. */
  readonly pending: PendingOperation | null;
  readonly nextOperationId: number;
  /** The next operation must be a read (after a conflict, a watch restart, an ambiguous failure). */
  readonly readDue: boolean;
  /** After a failure, no store operation before this time. */
  readonly backoffUntilMs: number;
  /** When a leader renews next. */
  readonly renewAtMs: number;
  /** When a follower on a store without watch reads next. */
  readonly pollAtMs: number;
  /** The holder last reported through `leader-changed` (`null`: none or unknown). */
  readonly reportedLeader: string | null;
  /** Highest `leaderTransitions` ever seen, so tokens stay increasing even if the record is recreated. */
  readonly highestToken: number;
  /** Release writes tried while stopping; bounded so stop always ends. */
  readonly releaseAttempts: number;
  /**
   * The version a compare-and-swap last lost on (`null`: a create lost), until a read shows another.
   * A read that still shows it means reads lag writes, and the next write waits a growing backoff.
   */
  readonly conflictedVersion: string | null | undefined;
  /** Reads in a row that showed the version a write had just lost on. */
  readonly staleReads: number;
  /** What follows a release: stopping (`stop()`), or staying a candidate (`resign()`). */
  readonly afterRelease: "stop" | "follow";
  /** After `resign()`, no acquisition before this time, so another candidate can take over. */
  readonly campaignAfterMs: number;
  /**
   * The records this elector sent to acquire the lock, most recent last (at most
   * `OWN_TERMS_REMEMBERED`). A record that matches one and that this elector no longer acts on (an
   * acquisition whose answer was lost, a renewal that landed after the deadline) binds nobody, so
   * this elector may take it over at once instead of waiting out a lease.
   */
  readonly ownTerms: readonly OwnTerm[];
  /** The handover under way (the lock is being written to name `successor`), or `null`. */
  readonly handover: Handover | null;
}

/** A handover this elector is writing: the leader stepped down and offers the next term to `successor`. */
export interface Handover {
  /** The caller's id for this request, echoed in `handover-settled`. */
  readonly requestId: number;
  readonly successor: string;
  /** The token written into the offered term, once the write was sent (`null` before). */
  readonly fencingToken: number | null;
  /** The last store failure while handing over; the write may or may not have landed. */
  readonly error: TenureError | null;
}

/** How a handover ended (see the `handover-settled` effect). */
export type HandoverOutcome =
  /** The lock now names the successor, as an offered term; the successor takes it with its own write. */
  | "written"
  /** This elector was not leading when the handover was asked for: nothing was written. */
  | "not-leading"
  /** The successor was this elector's own identity, or empty: nothing was written. */
  | "invalid-successor"
  /** The write lost a race, failed, or its outcome could not be read: the lock may name anyone. */
  | "not-written";

/** What identifies a term this elector tried to start: its token and the time it wrote. */
export interface OwnTerm {
  readonly fencingToken: number;
  readonly acquireTime: string;
}

/** Enough for every acquisition in flight or recently lost; older records have expired anyway. */
const OWN_TERMS_REMEMBERED = 16;

export type StepDownReason =
  /** No renewal succeeded within renewDeadline. */
  | "renew-deadline"
  /** Another holder (or an unreadable record) replaced ours, or the lock was deleted. */
  | "lost-lock"
  /** `stop()` was called. */
  | "stopped"
  /** `resign()` was called: released, still a candidate. */
  | "resigned"
  /** The elector's health check failed its threshold (see health-policy.ts): still a candidate. */
  | "unhealthy"
  /** The store asked for another holder (`preferredHolder`) and `yieldToPreferredHolder` is on: released. */
  | "yielded"
  /** `handOver()` was called: the next term is offered to a named successor; still a candidate. */
  | "handed-over";

/** What the runtime must do after a step, in order. */
export type Effect =
  | { readonly type: "read"; readonly operationId: number; readonly purpose: Purpose }
  | {
      readonly type: "create";
      readonly operationId: number;
      readonly purpose: Purpose;
      readonly record: LeaderRecord;
    }
  | {
      readonly type: "update";
      readonly operationId: number;
      readonly purpose: Purpose;
      readonly record: LeaderRecord;
      readonly expectedVersion: string;
    }
  | { readonly type: "started-leading"; readonly fencingToken: number; readonly safeUntilMs: number }
  | {
      readonly type: "renewed";
      readonly fencingToken: number;
      readonly safeUntilMs: number;
      readonly latencyMs: number;
    }
  | { readonly type: "stopped-leading"; readonly reason: StepDownReason; readonly fencingToken: number }
  | { readonly type: "leader-changed"; readonly leader: string | null; readonly validUntilMs: number | null }
  | { readonly type: "store-error"; readonly error: TenureError; readonly purpose: Purpose }
  | {
      readonly type: "handover-settled";
      /** The `requestId` of the `hand-over` event this answers. */
      readonly requestId: number;
      readonly successor: string;
      readonly outcome: HandoverOutcome;
      /** The offered term's token when `written`, else `null`. */
      readonly fencingToken: number | null;
      /** The store failure behind a `not-written` outcome, if there was one. */
      readonly error: TenureError | null;
    }
  | { readonly type: "stopped" };

/** The outcome of a store operation. */
export type OperationResult =
  | { readonly kind: "ok"; readonly snapshot: Snapshot | null }
  | { readonly kind: "conflict" }
  | { readonly kind: "failed"; readonly error: TenureError };

export type MachineEvent =
  /** Begin: read the lock. */
  | { readonly type: "start" }
  /** A timer asked for by `wakeAtMs` fired (or anything else wants the machine to re-evaluate). */
  | { readonly type: "timer" }
  /** The store pushed a change. */
  | { readonly type: "observed"; readonly snapshot: Snapshot | null }
  /** A store operation finished. Results of operations that are no longer pending are ignored. */
  | { readonly type: "completed"; readonly operationId: number; readonly result: OperationResult }
  /** Stop; release the lock first when leading and `release` is true. */
  | { readonly type: "stop"; readonly release: boolean }
  /**
   * Step down and release, but stay a candidate; do not acquire again for `holdOffMs`. `release:
   * false` steps down without writing (the lock lapses after its lease); `reason` names the step-down.
   */
  | {
      readonly type: "resign";
      readonly holdOffMs: number;
      readonly release?: boolean;
      readonly reason?: "resigned" | "unhealthy";
    }
  /**
   * Step down and offer the next term to `successor`: one compare-and-swap on the held version
   * writes a record naming it, with an empty `acquireTime` (an offer) and the next token. Stays a
   * candidate. Settles with a `handover-settled` effect.
   */
  | { readonly type: "hand-over"; readonly successor: string; readonly requestId: number };

export interface StepResult {
  readonly state: MachineState;
  readonly effects: readonly Effect[];
  /** When the machine next needs a `timer` event; `null` when only external events matter. */
  readonly wakeAtMs: number | null;
}

export const initialState: MachineState = {
  role: "follower",
  observed: undefined,
  term: null,
  pending: null,
  nextOperationId: 1,
  readDue: true,
  backoffUntilMs: 0,
  renewAtMs: 0,
  pollAtMs: 0,
  reportedLeader: null,
  highestToken: -1,
  releaseAttempts: 0,
  conflictedVersion: undefined,
  staleReads: 0,
  afterRelease: "stop",
  campaignAfterMs: 0,
  ownTerms: [],
  handover: null,
};

/** Most release writes tried while stopping (the first, plus one after a conflict). */
const MAX_RELEASE_ATTEMPTS = 2;

/** Applies one event. Pure: the same inputs always give the same outputs. */
export function step(
  config: MachineConfig,
  state: MachineState,
  event: MachineEvent,
  now: Instant,
): StepResult {
  if (state.role === "stopped") return { state, effects: [], wakeAtMs: null };
  const effects: Effect[] = [];
  let next = enforceRenewDeadline(state, now.monotonicMs, effects);
  next = apply(config, next, event, now, effects);
  next = decide(config, next, now, effects);
  // Once stopped, the elector reports nothing more: "stopped" is its last word.
  if (next.role !== "stopped")
    next = reportLeader(next, currentLeader(config, next, now.monotonicMs), effects);
  return { state: next, effects, wakeAtMs: wakeAt(config, next, now.monotonicMs) };
}

/** True when `state` may act as leader at `nowMs`: computed from the deadline, never from a timer. */
export function isLeading(state: MachineState, nowMs: number): boolean {
  return state.role === "leader" && state.term !== null && nowMs < state.term.safeUntilMs;
}

/**
 * The monotonic time at which the observed lease lapses for this observer (`undefined`: it does not
 * apply). A released lock, or a record this elector wrote and no longer acts on, binds nobody: it
 * lapses when seen.
 */
export function observedExpiryMs(config: MachineConfig, state: MachineState): number | undefined {
  const observed = state.observed;
  if (observed === undefined || observed === null) return undefined;
  if (observed.record !== null && observed.record.holderIdentity === "") return observed.observedAtMs;
  if (isOwnIdleRecord(config, state)) return observed.observedAtMs;
  if (state.role === "follower" && isOfferedTerm(config, observed)) return observed.observedAtMs;
  return observed.observedAtMs + observed.leaseMs;
}

/**
 * True when the observed record is a term handed over to this identity and not yet taken: it names
 * this identity with an empty `acquireTime`. Only a handover writes that: every acquisition, by
 * Tenure or client-go, stamps `acquireTime`, and every renewal keeps the stamp. So the record cannot
 * be the term of a process that shares the identity (a restart, a twin) and may still be acting; the
 * leader that wrote it had stopped acting before it sent the write. Nobody acts on an offer: the
 * successor starts its term only once its own compare-and-swap on the offer's version succeeded
 * (twins race for it and one wins), and its deadline counts from that write's send time.
 */
export function isOfferedTerm(config: Pick<MachineConfig, "identity">, observed: Observation): boolean {
  const record = observed.record;
  return (
    !observed.deleted &&
    record !== null &&
    record.holderIdentity === config.identity &&
    record.acquireTime === ""
  );
}

/**
 * True when the observed record is one this elector wrote to start a term (that acquisition, or a
 * renewal of it) and this elector does not lead. Nobody acts on such a record: other candidates
 * treat it as held, and this elector has stepped down (or never heard that it won). Matching the
 * token and the acquire time, not just the identity, keeps another process that shares the
 * identity (a restarted one, a misconfigured twin) from being mistaken for this one.
 */
function isOwnIdleRecord(config: MachineConfig, state: MachineState): boolean {
  const record = state.observed?.record;
  if (record === null || record === undefined || record.holderIdentity !== config.identity) return false;
  if (state.role !== "follower") return false;
  return state.ownTerms.some(
    (own) => own.fencingToken === record.leaderTransitions && own.acquireTime === record.acquireTime,
  );
}

/** Who leads as far as this candidate can tell at `nowMs`, and until when that answer holds. */
export interface LeaderView {
  /** `null` when nobody is known to lead now. */
  readonly identity: string | null;
  /** Monotonic time until which the answer holds (`null` with no leader). */
  readonly validUntilMs: number | null;
}

/**
 * The leader as far as `state` can tell at `nowMs`, computed, never remembered: this candidate only
 * while its term is valid; another holder only until the lease this candidate observed for it ends
 * (after that, the holder may have been replaced without this candidate hearing of it); otherwise
 * nobody. A record naming this candidate when it does not lead (it stepped down, or a previous
 * process with the same identity wrote it) names nobody.
 */
export function currentLeader(config: MachineConfig, state: MachineState, nowMs: number): LeaderView {
  if (isLeading(state, nowMs) && state.term !== null) {
    return { identity: config.identity, validUntilMs: state.term.safeUntilMs };
  }
  const observed = state.observed;
  const holder = observed?.record?.holderIdentity ?? "";
  if (observed === undefined || observed === null || holder === "" || holder === config.identity) {
    return NO_LEADER;
  }
  const validUntilMs = observed.observedAtMs + observed.leaseMs;
  return nowMs < validUntilMs ? { identity: holder, validUntilMs } : NO_LEADER;
}

const NO_LEADER: LeaderView = { identity: null, validUntilMs: null };

function enforceRenewDeadline(state: MachineState, nowMs: number, effects: Effect[]): MachineState {
  if (state.role !== "leader" || state.term === null || nowMs < state.term.safeUntilMs) return state;
  return stepDown(state, "renew-deadline", effects);
}

function stepDown(state: MachineState, reason: StepDownReason, effects: Effect[]): MachineState {
  if (state.role !== "leader" || state.term === null) return state;
  effects.push({ type: "stopped-leading", reason, fencingToken: state.term.fencingToken });
  return { ...state, role: "follower", term: null };
}

function apply(
  config: MachineConfig,
  state: MachineState,
  event: MachineEvent,
  now: Instant,
  effects: Effect[],
): MachineState {
  switch (event.type) {
    case "start":
      return { ...state, readDue: true };
    case "timer":
      return state;
    case "observed":
      return observePushed(config, state, event.snapshot, now.monotonicMs, effects);
    case "completed":
      if (state.pending === null || state.pending.id !== event.operationId) return state;
      return complete(config, state, state.pending, event.result, now.monotonicMs, effects);
    case "stop":
      return stop(state, event.release, effects);
    case "resign":
      return resign(
        state,
        now.monotonicMs + Math.max(0, event.holdOffMs),
        effects,
        event.release ?? true,
        event.reason ?? "resigned",
      );
    case "hand-over":
      return handOver(config, state, event, effects);
  }
}

/**
 * Steps down (aborting first) and offers the next term to `successor`, staying a candidate. The
 * write is the release's compare-and-swap on the held version, with the successor as holder.
 */
function handOver(
  config: MachineConfig,
  state: MachineState,
  request: Extract<MachineEvent, { type: "hand-over" }>,
  effects: Effect[],
): MachineState {
  const { successor, requestId } = request;
  const refuse = (outcome: HandoverOutcome): MachineState => {
    effects.push({
      type: "handover-settled",
      requestId,
      successor,
      outcome,
      fencingToken: null,
      error: null,
    });
    return state;
  };
  if (successor === "" || successor === config.identity) return refuse("invalid-successor");
  if (state.role !== "leader" || state.term === null) return refuse("not-leading");
  const term = state.term;
  return {
    ...stepDown(state, "handed-over", effects),
    role: "releasing",
    term,
    releaseAttempts: 0,
    afterRelease: "follow",
    handover: { requestId, successor, fencingToken: null, error: null },
  };
}

function stop(state: MachineState, release: boolean, effects: Effect[]): MachineState {
  // A release under way (after resign()) now ends in stopping.
  if (state.role === "releasing") return { ...state, afterRelease: "stop" };
  const term = state.term;
  const stepped = stepDown(state, "stopped", effects);
  if (release && term !== null) {
    // Keep the term's record and version: the release is a compare-and-swap on them.
    return { ...stepped, role: "releasing", term, releaseAttempts: 0 };
  }
  if (release && state.pending?.purpose === "acquire") {
    // An acquisition is on its way and may win: wait for its answer, and release what it won
    // rather than leave the lock held by a candidate that is gone for a whole lease.
    return { ...stepped, role: "releasing", term: null, releaseAttempts: 0 };
  }
  effects.push({ type: "stopped" });
  return { ...stepped, role: "stopped", pending: null };
}

/**
 * Steps down (aborting first) and releases, like `stop({ release: true })`, but stays a candidate:
 * the lock is handed on at once, and this candidate does not acquire again before `campaignAfterMs`.
 */
function resign(
  state: MachineState,
  campaignAfterMs: number,
  effects: Effect[],
  release: boolean,
  reason: "resigned" | "unhealthy" | "yielded",
): MachineState {
  if (state.role === "releasing" || state.role === "stopped") return state;
  const term = state.term;
  const stepped = { ...stepDown(state, reason, effects), campaignAfterMs };
  // Without a release the record keeps naming us: others wait out its lease, as after a crash.
  if (term !== null && !release) return stepped;
  if (term !== null) {
    return { ...stepped, role: "releasing", term, releaseAttempts: 0, afterRelease: "follow" };
  }
  if (state.pending?.purpose === "acquire") {
    return { ...stepped, role: "releasing", term: null, releaseAttempts: 0, afterRelease: "follow" };
  }
  return stepped;
}

/**
 * A leader whose lock asks for another holder hands it over at once when configured to: the store's
 * request (`preferredHolder`) is read from the snapshot that showed the lock still ours. A request
 * naming this candidate, or none, changes nothing. Under coordination the coordinator gives the lock
 * to the preferred candidate as soon as it sees it released; otherwise this candidate stays out for
 * one lease so that the preferred one can take it.
 */
function yieldIfAsked(
  config: MachineConfig,
  state: MachineState,
  snapshot: Snapshot | null,
  nowMs: number,
  effects: Effect[],
): MachineState {
  if (config.yieldToPreferredHolder !== true || state.role !== "leader") return state;
  const preferred = snapshot?.record !== null ? snapshot?.preferredHolder : undefined;
  if (preferred === undefined || preferred === "" || preferred === config.identity) return state;
  const holdOffMs = config.coordinated === true ? 0 : config.leaseDurationMs;
  return resign(state, nowMs + holdOffMs, effects, true, "yielded");
}

/** Records a snapshot. A version seen before keeps its first sighting time; that is what expiry counts from. */
function observe(
  config: MachineConfig,
  state: MachineState,
  snapshot: Snapshot | null,
  nowMs: number,
): MachineState {
  const token = snapshot?.record?.leaderTransitions ?? -1;
  return {
    ...state,
    observed: nextObservation(config, state.observed, snapshot, nowMs),
    highestToken: Math.max(state.highestToken, token),
  };
}

/**
 * What a snapshot means next to the previous observation. An absent lock is a deletion, not a
 * release, when this candidate saw it held (or unreadable) before, or the store reports a tombstone:
 * the last holder may still be acting until its own deadline, which ends within the lease it wrote.
 * A deletion keeps its first sighting however often it is seen again, as a version does.
 */
function nextObservation(
  config: MachineConfig,
  previous: Observation | null | undefined,
  snapshot: Snapshot | null,
  nowMs: number,
): Observation | null {
  if (snapshot === null || snapshot.deleted === true) {
    const tombstoneVersion = snapshot?.version ?? null;
    // Seen before: keep the first sighting, and follow the store's word on how to bring it back.
    if (previous?.deleted === true) return { ...previous, tombstoneVersion };
    // Released, then deleted, without a tombstone: nobody holds it, as after any release.
    if (snapshot === null && previous?.record?.holderIdentity === "") return null;
    const sawHolder = previous !== undefined && previous !== null;
    if (snapshot === null && !sawHolder) return null;
    return {
      version: tombstoneVersion ?? `deleted-after-${previous?.version ?? ""}`,
      record: null,
      deleted: true,
      tombstoneVersion,
      observedAtMs: nowMs,
      // The lease the last holder wrote, when this candidate saw it; else a full lease of ours.
      leaseMs: sawHolder ? previous.leaseMs : config.leaseDurationMs,
    };
  }
  if (previous?.version === snapshot.version) return previous;
  return {
    version: snapshot.version,
    record: snapshot.record,
    deleted: false,
    tombstoneVersion: null,
    observedAtMs: nowMs,
    leaseMs: snapshot.record === null ? config.leaseDurationMs : snapshot.record.leaseDurationSeconds * 1000,
  };
}

function reportLeader(state: MachineState, view: LeaderView, effects: Effect[]): MachineState {
  if (state.reportedLeader === view.identity) return state;
  effects.push({ type: "leader-changed", leader: view.identity, validUntilMs: view.validUntilMs });
  return { ...state, reportedLeader: view.identity };
}

/** A change pushed by the store's watch. */
function observePushed(
  config: MachineConfig,
  state: MachineState,
  snapshot: Snapshot | null,
  nowMs: number,
  effects: Effect[],
): MachineState {
  if (state.role === "leader" && state.term !== null) {
    if (snapshot !== null && snapshot.version === state.term.version) return state; // our own write
    if (snapshot?.record?.holderIdentity === config.identity) {
      // Still ours. It may carry a request to hand over (a watching leader yields at once); else it is
      // one of our own writes, possibly delivered late, which says nothing new. A read settles the version.
      return yieldIfAsked(config, state, snapshot, nowMs, effects);
    }
    // Someone else holds the lock now (or deleted it, or wrote garbage): stop acting at once.
    return observe(config, stepDown(state, "lost-lock", effects), snapshot, nowMs);
  }
  return observe(config, state, snapshot, nowMs);
}

function complete(
  config: MachineConfig,
  state: MachineState,
  operation: PendingOperation,
  result: OperationResult,
  nowMs: number,
  effects: Effect[],
): MachineState {
  const settled: MachineState = { ...state, pending: null };
  if (result.kind === "failed") {
    effects.push({ type: "store-error", error: result.error, purpose: operation.purpose });
    if (state.role === "releasing") {
      // An acquisition that failed while stopping may still have landed: one read tells.
      if (operation.purpose === "acquire") return { ...settled, readDue: true };
      // So may a handover: one read tells whether the successor was named.
      if (operation.purpose === "hand-over" && settled.handover !== null) {
        return { ...settled, readDue: true, handover: { ...settled.handover, error: result.error } };
      }
      return finishStopping(settled, effects);
    }
    // A failed write may still have landed; a follower reads before writing again. A leader keeps
    // renewing with the version it holds: if its write did land, the conflict leads to a read.
    return {
      ...settled,
      backoffUntilMs: nowMs + config.retryPeriodMs,
      readDue: settled.readDue || (operation.purpose !== "renew" && operation.purpose !== "observe"),
      renewAtMs: nowMs + config.retryPeriodMs,
    };
  }
  if (result.kind === "conflict") {
    // Stopping, and the acquisition in flight lost: there is nothing to release.
    if (state.role === "releasing" && state.term === null) return finishStopping(settled, effects);
    return {
      ...settled,
      readDue: true,
      backoffUntilMs: 0,
      conflictedVersion: operation.expectedVersion ?? null,
    };
  }
  const snapshot = result.snapshot;
  const ok: MachineState = { ...settled, backoffUntilMs: 0 };
  switch (operation.purpose) {
    case "observe":
      return afterRead(config, ok, snapshot, nowMs, effects);
    case "acquire":
      return afterAcquire(config, ok, operation, snapshot, nowMs, effects);
    case "renew":
      return afterRenew(config, ok, operation, snapshot, nowMs, effects);
    case "release":
    case "hand-over":
      return finishStopping(observe(config, ok, snapshot, nowMs), effects);
  }
}

function afterRead(
  config: MachineConfig,
  state: MachineState,
  snapshot: Snapshot | null,
  nowMs: number,
  effects: Effect[],
): MachineState {
  const read: MachineState = {
    ...afterConflictRead(config, state, snapshot, nowMs),
    readDue: false,
    pollAtMs: nowMs + config.retryPeriodMs,
  };
  if (read.role === "leader" && read.term !== null) {
    if (snapshot?.record?.holderIdentity === config.identity) {
      // Still ours (a renewal whose answer was lost may have moved the version): adopt the version,
      // but not a later deadline, since we cannot tell when that write was sent.
      const term = { ...read.term, version: snapshot.version, record: snapshot.record };
      return yieldIfAsked(
        config,
        observe(config, { ...read, term }, snapshot, nowMs),
        snapshot,
        nowMs,
        effects,
      );
    }
    return observe(config, stepDown(read, "lost-lock", effects), snapshot, nowMs);
  }
  if (read.role === "releasing") {
    if (snapshot?.record?.holderIdentity === config.identity) {
      return { ...read, term: releasableTerm(read.term, snapshot.version, snapshot.record) };
    }
    // Someone else holds it already (or our acquisition never landed): nothing left to release.
    return finishStopping(observe(config, read, snapshot, nowMs), effects);
  }
  return observe(config, read, snapshot, nowMs);
}

/**
 * After a compare-and-swap lost, the read that follows shows why. If it still shows the version the
 * write lost on, reads lag writes (a stale replica, a restored store): writing again at once would
 * lose again, in a loop, so the next write waits a backoff that doubles per such read up to a retry
 * period. A read that shows progress ends the backoff.
 */
function afterConflictRead(
  config: MachineConfig,
  state: MachineState,
  snapshot: Snapshot | null,
  nowMs: number,
): MachineState {
  if (state.conflictedVersion === undefined) return state;
  const seen = snapshot === null || snapshot.deleted === true ? null : snapshot.version;
  if (seen !== state.conflictedVersion) return { ...state, conflictedVersion: undefined, staleReads: 0 };
  const staleReads = state.staleReads + 1;
  const backoffMs = Math.min(config.retryPeriodMs, (config.retryPeriodMs / 8) * 2 ** (staleReads - 1));
  return { ...state, conflictedVersion: undefined, staleReads, backoffUntilMs: nowMs + backoffMs };
}

/** The term a stopping candidate releases: the one it held, or one its last acquisition won. */
function releasableTerm(term: Term | null, version: string, record: LeaderRecord): Term {
  return term === null
    ? { fencingToken: record.leaderTransitions, record, version, safeUntilMs: 0 }
    : { ...term, version, record };
}

function afterAcquire(
  config: MachineConfig,
  state: MachineState,
  operation: PendingOperation,
  snapshot: Snapshot | null,
  nowMs: number,
  effects: Effect[],
): MachineState {
  const safeUntilMs = operation.sentAtMs + config.renewDeadlineMs;
  const record = snapshot?.record ?? null;
  if (state.role === "releasing" && snapshot !== null && record?.holderIdentity === config.identity) {
    // Won while stopping: never a term to act on, only a lock to hand back at once.
    return {
      ...observe(config, state, snapshot, nowMs),
      term: releasableTerm(null, snapshot.version, record),
    };
  }
  if (snapshot === null || record === null || state.role !== "follower" || nowMs >= safeUntilMs) {
    // The answer came too late to act on (or we are stopping): it is only an observation. The lock
    // names us, but a later term must start with a fresh acquisition and a new token.
    return observe(config, state, snapshot, nowMs);
  }
  const term: Term = {
    fencingToken: record.leaderTransitions,
    record,
    version: snapshot.version,
    safeUntilMs,
  };
  effects.push({ type: "started-leading", fencingToken: term.fencingToken, safeUntilMs });
  const leading: MachineState = {
    ...observe(config, state, snapshot, nowMs),
    role: "leader",
    term,
    readDue: false,
    staleReads: 0,
    renewAtMs: renewalTime(config, operation.sentAtMs),
  };
  return yieldIfAsked(config, leading, snapshot, nowMs, effects);
}

function afterRenew(
  config: MachineConfig,
  state: MachineState,
  operation: PendingOperation,
  snapshot: Snapshot | null,
  nowMs: number,
  effects: Effect[],
): MachineState {
  if (state.role === "releasing" && state.term !== null && snapshot?.record) {
    // A renewal landed while stopping: release against its version.
    return { ...state, term: { ...state.term, version: snapshot.version, record: snapshot.record } };
  }
  if (state.role !== "leader" || state.term === null || snapshot === null || snapshot.record === null) {
    return observe(config, state, snapshot, nowMs);
  }
  const safeUntilMs = Math.max(state.term.safeUntilMs, operation.sentAtMs + config.renewDeadlineMs);
  const term: Term = { ...state.term, record: snapshot.record, version: snapshot.version, safeUntilMs };
  effects.push({
    type: "renewed",
    fencingToken: term.fencingToken,
    safeUntilMs,
    latencyMs: nowMs - operation.sentAtMs,
  });
  const renewed: MachineState = {
    ...observe(config, state, snapshot, nowMs),
    term,
    staleReads: 0,
    renewAtMs: renewalTime(config, operation.sentAtMs),
  };
  return yieldIfAsked(config, renewed, snapshot, nowMs, effects);
}

/** Longest a renewal is moved ahead to share its moment with others (see {@link renewalTime}). */
const MAX_RENEWAL_ALIGNMENT_MS = 20;

/**
 * When a leader renews after a write sent at `sentAtMs`: a retry period later, moved back to the
 * last multiple of a small step (a fiftieth of the retry period, at most 20 ms). Renewing that
 * little early changes nothing for safety (a term's end counts from the send time of each write),
 * but it makes the renewals of many elections in one process fall due in the same instant, so a
 * store that can carry several compare-and-swaps in one round trip (etcd, Redis pipelines) sends
 * them together instead of one by one.
 */
function renewalTime(config: Pick<MachineConfig, "retryPeriodMs">, sentAtMs: number): number {
  const due = sentAtMs + config.retryPeriodMs;
  const step = Math.min(MAX_RENEWAL_ALIGNMENT_MS, config.retryPeriodMs / 50);
  return step < 1 ? due : Math.floor(due / step) * step;
}

/** The release is over (written, lost or given up): stop, or after resign() follow again. */
function finishStopping(state: MachineState, effects: Effect[]): MachineState {
  if (state.handover !== null) state = settleHandover(state, effects);
  if (state.afterRelease === "follow") {
    return {
      ...state,
      role: "follower",
      term: null,
      readDue: true,
      afterRelease: "stop",
      releaseAttempts: 0,
    };
  }
  effects.push({ type: "stopped" });
  return { ...state, role: "stopped", term: null, pending: null };
}

/**
 * Reports how a handover ended, from what the store last showed: written when it names the
 * successor with the offered token (the successor may already have taken it).
 */
function settleHandover(state: MachineState, effects: Effect[]): MachineState {
  const handover = state.handover;
  if (handover === null) return state;
  const record = state.observed?.record;
  const written =
    handover.fencingToken !== null &&
    record?.holderIdentity === handover.successor &&
    record.leaderTransitions === handover.fencingToken;
  effects.push({
    type: "handover-settled",
    requestId: handover.requestId,
    successor: handover.successor,
    outcome: written ? "written" : "not-written",
    fencingToken: written ? handover.fencingToken : null,
    error: written ? null : handover.error,
  });
  return { ...state, handover: null };
}

/** Chooses the next store operation, if one is due and none is in flight. */
function decide(config: MachineConfig, state: MachineState, now: Instant, effects: Effect[]): MachineState {
  const nowMs = now.monotonicMs;
  if (state.role === "stopped" || state.pending !== null || nowMs < state.backoffUntilMs) return state;

  if (state.role === "releasing") {
    if (state.releaseAttempts >= MAX_RELEASE_ATTEMPTS) return finishStopping(state, effects);
    if (state.term === null) {
      // Only an acquisition of unknown outcome is left to settle: read once, release if it won.
      if (!state.readDue) return finishStopping(state, effects);
      const attempt = { ...state, releaseAttempts: state.releaseAttempts + 1 };
      return send(attempt, { type: "read", purpose: "observe" }, nowMs, effects);
    }
    if (state.readDue) return send(state, { type: "read", purpose: "observe" }, nowMs, effects);
    if (state.handover !== null) {
      // The offered term: a valid lease held by the successor, so every other candidate waits it
      // out as for any holder; an empty acquireTime marks it as an offer (see isOfferedTerm); the
      // next token, so the successor's term is fenced apart from ours.
      const fencingToken = Math.max(state.term.record.leaderTransitions, state.highestToken) + 1;
      const offer: LeaderRecord = {
        holderIdentity: state.handover.successor,
        leaseDurationSeconds: config.leaseDurationMs / 1000,
        acquireTime: "",
        renewTime: stamp(now),
        leaderTransitions: fencingToken,
      };
      const attempt: MachineState = {
        ...state,
        releaseAttempts: state.releaseAttempts + 1,
        handover: { ...state.handover, fencingToken },
      };
      return send(
        attempt,
        { type: "update", purpose: "hand-over", record: offer, expectedVersion: state.term.version },
        nowMs,
        effects,
      );
    }
    const record: LeaderRecord = {
      holderIdentity: "",
      // client-go writes 1 here; a reader that ignores the empty holder still sees a lease about to lapse.
      leaseDurationSeconds: 1,
      acquireTime: stamp(now),
      renewTime: stamp(now),
      leaderTransitions: state.term.record.leaderTransitions,
    };
    const attempt = { ...state, releaseAttempts: state.releaseAttempts + 1 };
    return send(
      attempt,
      { type: "update", purpose: "release", record, expectedVersion: state.term.version },
      nowMs,
      effects,
    );
  }

  if (state.role === "leader" && state.term !== null) {
    if (state.readDue) return send(state, { type: "read", purpose: "observe" }, nowMs, effects);
    if (nowMs < state.renewAtMs) return state;
    // The fast path: one conditional write on the version we hold, no read first.
    const record: LeaderRecord = {
      ...state.term.record,
      leaseDurationSeconds: config.leaseDurationMs / 1000,
      renewTime: stamp(now),
    };
    return send(
      state,
      { type: "update", purpose: "renew", record, expectedVersion: state.term.version },
      nowMs,
      effects,
    );
  }

  // Follower.
  if (state.readDue || state.observed === undefined) {
    return send(state, { type: "read", purpose: "observe" }, nowMs, effects);
  }
  const observed = state.observed;
  if (config.coordinated === true) return decideCoordinated(config, state, now, effects);
  const expiry = observedExpiryMs(config, state);
  // Resigned and holding off, or waiting out a deletion: leave the lock alone for now.
  const waiting = nowMs < state.campaignAfterMs || (observed?.deleted === true && (expiry ?? 0) > nowMs);
  if (!waiting && observed !== null && isOfferedTerm(config, observed) && observed.record !== null) {
    // A term handed over to us: take it with our own write on the offer's version, and lead only
    // once that write succeeds. Keep the offered token unless a higher one was ever seen here.
    const offered = observed.record.leaderTransitions;
    const token = state.highestToken > offered ? state.highestToken + 1 : offered;
    const record = newTermRecord(config, token, now);
    return send(
      rememberOwnTerm(state, record),
      { type: "update", purpose: "acquire", record, expectedVersion: observed.version },
      nowMs,
      effects,
    );
  }
  if (!waiting && (observed === null || observed.deleted)) {
    const record = newTermRecord(config, state.highestToken + 1, now);
    const tombstone = observed?.tombstoneVersion ?? null;
    return send(
      rememberOwnTerm(state, record),
      tombstone === null
        ? { type: "create", purpose: "acquire", record }
        : { type: "update", purpose: "acquire", record, expectedVersion: tombstone },
      nowMs,
      effects,
    );
  }
  if (!waiting && observed !== null && expiry !== undefined && nowMs >= expiry) {
    const previous = observed.record?.leaderTransitions ?? -1;
    const record = newTermRecord(config, Math.max(previous, state.highestToken) + 1, now);
    return send(
      rememberOwnTerm(state, record),
      { type: "update", purpose: "acquire", record, expectedVersion: observed.version },
      nowMs,
      effects,
    );
  }
  // A store that cannot push changes is read every retry period.
  if (!config.watch && nowMs >= state.pollAtMs) {
    return send(state, { type: "read", purpose: "observe" }, nowMs, effects);
  }
  return state;
}

/**
 * A follower under coordination: the coordinator writes the holder, never this candidate. When the
 * lock names this candidate, the term starts with a compare-and-swap on that version (a renewal of the
 * coordinator's record with a new token), so it can only begin if nothing changed since the
 * coordinator's write, and its safe-to-act interval counts from this write's send time, as any term's
 * does. A record naming this candidate that this elector wrote itself and stepped down from is taken
 * up the same way: the coordinator still names it, nobody else may act on it.
 */
function decideCoordinated(
  config: MachineConfig,
  state: MachineState,
  now: Instant,
  effects: Effect[],
): MachineState {
  const nowMs = now.monotonicMs;
  const observed = state.observed;
  const record = observed?.record;
  if (nowMs >= state.campaignAfterMs && observed && record && record.holderIdentity === config.identity) {
    const token = Math.max(record.leaderTransitions, state.highestToken) + 1;
    const term = { ...newTermRecord(config, token, now) };
    return send(
      rememberOwnTerm(state, term),
      { type: "update", purpose: "acquire", record: term, expectedVersion: observed.version },
      nowMs,
      effects,
    );
  }
  if (!config.watch && nowMs >= state.pollAtMs) {
    return send(state, { type: "read", purpose: "observe" }, nowMs, effects);
  }
  return state;
}

type OperationRequest =
  | { readonly type: "read"; readonly purpose: Purpose }
  | { readonly type: "create"; readonly purpose: Purpose; readonly record: LeaderRecord }
  | {
      readonly type: "update";
      readonly purpose: Purpose;
      readonly record: LeaderRecord;
      readonly expectedVersion: string;
    };

function send(
  state: MachineState,
  request: OperationRequest,
  nowMs: number,
  effects: Effect[],
): MachineState {
  const id = state.nextOperationId;
  effects.push({ ...request, operationId: id });
  const expectedVersion =
    request.type === "update" ? request.expectedVersion : request.type === "create" ? null : undefined;
  return {
    ...state,
    pending: { id, purpose: request.purpose, sentAtMs: nowMs, expectedVersion },
    nextOperationId: id + 1,
  };
}

function rememberOwnTerm(state: MachineState, record: LeaderRecord): MachineState {
  const own: OwnTerm = { fencingToken: record.leaderTransitions, acquireTime: record.acquireTime };
  return { ...state, ownTerms: [...state.ownTerms, own].slice(-OWN_TERMS_REMEMBERED) };
}

function newTermRecord(config: MachineConfig, leaderTransitions: number, now: Instant): LeaderRecord {
  const time = stamp(now);
  return {
    holderIdentity: config.identity,
    leaseDurationSeconds: config.leaseDurationMs / 1000,
    acquireTime: time,
    renewTime: time,
    leaderTransitions,
  };
}

function stamp(now: Instant): string {
  return formatRfc3339(now.wallTime, 6);
}

/** The earliest future time at which something becomes due. */
function wakeAt(config: MachineConfig, state: MachineState, nowMs: number): number | null {
  if (state.role === "stopped") return null;
  const times: number[] = [];
  if (state.role === "leader" && state.term !== null) times.push(state.term.safeUntilMs);
  // The answer to "who leads" changes when the reported leader's validity ends.
  const reported = currentLeader(config, state, nowMs).validUntilMs;
  if (reported !== null) times.push(reported);
  if (state.pending === null) {
    if (state.backoffUntilMs > nowMs) {
      times.push(state.backoffUntilMs);
    } else if (state.role === "leader") {
      times.push(state.renewAtMs);
    } else if (state.role === "follower") {
      const expiry = observedExpiryMs(config, state);
      if (expiry !== undefined) times.push(Math.max(expiry, state.campaignAfterMs));
      if (state.campaignAfterMs > nowMs) times.push(state.campaignAfterMs);
      if (!config.watch) times.push(state.pollAtMs);
    }
  }
  const future = times.filter((time) => time > nowMs);
  return future.length === 0 ? null : Math.min(...future);
}
