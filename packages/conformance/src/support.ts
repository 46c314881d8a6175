import { randomBytes } from "node:crypto";
import type { Elector, ElectorEvent, LeaderRecord, LockStore } from "@tenure/core";
import { TenureError } from "@tenure/core";
import type { ConformanceTarget, RawLock } from "./target.js";

/** A fresh election name per test: servers are shared, and nothing is ever deleted. */
export function uniqueName(target: ConformanceTarget, label: string): string {
  return `${target.namePrefix ?? "conformance"}-${label}-${randomBytes(4).toString("hex")}`;
}

/** A valid record with whole-second timestamps, which every store format carries exactly. */
export function sampleRecord(overrides: Partial<LeaderRecord> = {}): LeaderRecord {
  return {
    holderIdentity: "candidate-a",
    leaseDurationSeconds: 15,
    acquireTime: "2026-01-02T03:04:05Z",
    renewTime: "2026-01-02T03:04:06Z",
    leaderTransitions: 3,
    ...overrides,
  };
}

/** Compares two records as a reader would: same fields, timestamps as the same instant. */
export function sameRecord(actual: LeaderRecord, expected: LeaderRecord): boolean {
  return (
    actual.holderIdentity === expected.holderIdentity &&
    actual.leaseDurationSeconds === expected.leaseDurationSeconds &&
    actual.leaderTransitions === expected.leaderTransitions &&
    Date.parse(actual.acquireTime) === Date.parse(expected.acquireTime) &&
    Date.parse(actual.renewTime) === Date.parse(expected.renewTime)
  );
}

/** The record in a raw read, or a thrown error saying what was there instead. */
export function rawRecord(raw: RawLock | null): LeaderRecord {
  if (raw === null) throw new Error("the raw reader found no lock");
  if ("corruption" in raw) throw new Error(`the raw reader found an undecodable lock: ${raw.corruption}`);
  return raw.record;
}

/** Settles `promise` and returns its TenureError code, or "resolved" / "not a TenureError". */
export async function outcomeCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    return TenureError.is(error) ? error.code : `not a TenureError: ${String(error)}`;
  }
}

/** Closes every store opened during a test, whatever happened. */
export class StorePool {
  readonly #stores: LockStore[] = [];
  readonly #target: ConformanceTarget;

  constructor(target: ConformanceTarget) {
    this.#target = target;
  }

  async open(): Promise<LockStore> {
    const store = await this.#target.createStore();
    this.#stores.push(store);
    return store;
  }

  async closeAll(): Promise<void> {
    const stores = this.#stores.splice(0);
    await Promise.allSettled(stores.map((store) => this.#target.faults.heal(store)));
    await Promise.allSettled(stores.map((store) => store.close()));
  }
}

/**
 * Resolves with the first event matching `predicate` from any of `electors`, or rejects after
 * `timeoutMs` with a message naming what was awaited. Event-driven: no polling.
 */
export function nextEvent(
  electors: readonly Elector[],
  predicate: (event: ElectorEvent, elector: Elector) => boolean,
  timeoutMs: number,
  what: string,
): Promise<{ event: ElectorEvent; elector: Elector }> {
  return new Promise((resolve, reject) => {
    const unsubscribes: (() => void)[] = [];
    const done = (): void => {
      clearTimeout(timer);
      for (const unsubscribe of unsubscribes) unsubscribe();
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    for (const elector of electors) {
      unsubscribes.push(
        elector.subscribe((event) => {
          if (!predicate(event, elector)) return;
          done();
          resolve({ event, elector });
        }),
      );
    }
  });
}

/** Waits until one of `electors` leads (now or later) and returns it. */
export async function awaitLeader(electors: readonly Elector[], timeoutMs: number): Promise<Elector> {
  const current = electors.find((elector) => elector.isLeader());
  if (current !== undefined) return current;
  const { elector } = await nextEvent(
    electors,
    (event) => event.type === "started-leading",
    timeoutMs,
    "a leader",
  );
  return elector;
}

/** Waits until every elector in `electors` reports `leader` as the holder. */
export async function awaitAgreement(
  electors: readonly Elector[],
  leader: string,
  timeoutMs: number,
): Promise<void> {
  const pending = electors.filter((elector) => elector.leader() !== leader);
  await Promise.all(
    pending.map((elector) =>
      elector.leader() === leader
        ? undefined
        : nextEvent(
            [elector],
            (event) => event.type === "leader-changed" && event.leader === leader,
            timeoutMs,
            `${elector.identity} to see ${leader} lead`,
          ),
    ),
  );
}
