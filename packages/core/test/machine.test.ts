import { describe, expect, it } from "vitest";
import type {
  Effect,
  LeaderRecord,
  MachineConfig,
  MachineEvent,
  MachineState,
  Snapshot,
} from "../src/index.js";
import { initialState, isLeading, step, UnavailableError } from "../src/index.js";

const config: MachineConfig = {
  identity: "me",
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
  watch: true,
};

const wall = new Date("2026-11-25T10:00:00Z");

function record(overrides: Partial<LeaderRecord> = {}): LeaderRecord {
  return {
    holderIdentity: "other",
    leaseDurationSeconds: 15,
    acquireTime: "2020-01-01T00:00:00Z",
    renewTime: "2020-01-01T00:00:00Z",
    leaderTransitions: 4,
    ...overrides,
  };
}

/** Drives the machine through events at given times, keeping every effect for inspection. */
class Driver {
  state: MachineState = initialState;
  effects: Effect[] = [];
  wakeAtMs: number | null = null;
  readonly config: MachineConfig;

  constructor(machineConfig: MachineConfig = config) {
    this.config = machineConfig;
  }

  at(monotonicMs: number, event: MachineEvent): Effect[] {
    const result = step(this.config, this.state, event, { monotonicMs, wallTime: wall });
    this.state = result.state;
    this.wakeAtMs = result.wakeAtMs;
    this.effects.push(...result.effects);
    return [...result.effects];
  }

  /** The operation id of the pending store call. */
  pendingId(): number {
    const pending = this.state.pending;
    if (pending === null) throw new Error("no operation pending");
    return pending.id;
  }

  complete(monotonicMs: number, snapshot: Snapshot | null): Effect[] {
    return this.at(monotonicMs, {
      type: "completed",
      operationId: this.pendingId(),
      result: { kind: "ok", snapshot },
    });
  }
}

const types = (effects: Effect[]): string[] => effects.map((effect) => effect.type);

/** A follower that has read `other`'s record at version "7" at time 1000. */
function followerWatching(): Driver {
  const driver = new Driver();
  expect(types(driver.at(0, { type: "start" }))).toEqual(["read"]);
  driver.complete(1000, { version: "7", record: record() });
  return driver;
}

/** A leader that acquired with a write sent at 0 and answered at 50. */
function leader(): Driver {
  const driver = new Driver();
  driver.at(0, { type: "start" });
  driver.complete(0, null);
  const create = driver.effects.at(-1);
  expect(create?.type).toBe("create");
  driver.at(0, { type: "timer" });
  driver.complete(50, { version: "1", record: record({ holderIdentity: "me", leaderTransitions: 0 }) });
  expect(isLeading(driver.state, 50)).toBe(true);
  return driver;
}

describe("follower", () => {
  it("starts by reading, and creates the lock when it is missing", () => {
    const driver = new Driver();
    expect(types(driver.at(0, { type: "start" }))).toEqual(["read"]);
    const effects = driver.complete(10, null);
    expect(types(effects)).toEqual(["create"]);
    const create = effects[0];
    expect(create?.type === "create" && create.record).toMatchObject({
      holderIdentity: "me",
      leaseDurationSeconds: 15,
      leaderTransitions: 0,
      acquireTime: "2026-11-25T10:00:00.000000Z",
    });
  });

  it("waits a full lease from when it saw the record, ignoring the record's own timestamps", () => {
    const driver = followerWatching();
    // The stored renewTime is years old; only the local sighting at 1000 counts.
    expect(driver.wakeAtMs).toBe(16_000);
    expect(types(driver.at(15_999, { type: "timer" }))).toEqual([]);
    const effects = driver.at(16_000, { type: "timer" });
    // The lease it saw has ended: it tries to take over, and no longer names "other" as leader.
    expect(types(effects)).toEqual(["update", "leader-changed"]);
    expect(effects[1]).toMatchObject({ type: "leader-changed", leader: null, validUntilMs: null });
    const update = effects[0];
    expect(update?.type === "update" && update.expectedVersion).toBe("7");
    expect(update?.type === "update" && update.record.leaderTransitions).toBe(5);
  });

  it("restarts the wait whenever the version changes, but not when the same version is seen again", () => {
    const driver = followerWatching();
    driver.at(5000, { type: "observed", snapshot: { version: "7", record: record() } });
    expect(driver.wakeAtMs).toBe(16_000);
    driver.at(6000, { type: "observed", snapshot: { version: "8", record: record() } });
    expect(driver.wakeAtMs).toBe(21_000);
  });

  it("sends nothing between lease events when the store can watch", () => {
    const driver = followerWatching();
    const before = driver.effects.length;
    for (let time = 1000; time < 16_000; time += 500) driver.at(time, { type: "timer" });
    expect(driver.effects.length).toBe(before);
  });

  it("polls every retry period when the store cannot watch", () => {
    const driver = new Driver({ ...config, watch: false });
    driver.at(0, { type: "start" });
    driver.complete(1000, { version: "7", record: record() });
    expect(driver.wakeAtMs).toBe(3000);
    expect(types(driver.at(3000, { type: "timer" }))).toEqual(["read"]);
  });

  it("takes a released lock at once", () => {
    const driver = followerWatching();
    const effects = driver.at(2000, {
      type: "observed",
      snapshot: { version: "9", record: record({ holderIdentity: "", leaseDurationSeconds: 1 }) },
    });
    expect(types(effects)).toEqual(["update", "leader-changed"]);
  });

  it("holds an undecodable record for a full lease of its own before taking it over", () => {
    const driver = new Driver();
    driver.at(0, { type: "start" });
    const effects = driver.complete(100, { version: "3", record: null, corruption: "not JSON" });
    expect(types(effects)).toEqual([]);
    expect(driver.wakeAtMs).toBe(15_100);
    expect(types(driver.at(15_100, { type: "timer" }))).toEqual(["update"]);
  });

  it("reads after a lost race instead of writing again", () => {
    const driver = followerWatching();
    driver.at(16_000, { type: "timer" });
    const effects = driver.at(16_010, {
      type: "completed",
      operationId: driver.pendingId(),
      result: { kind: "conflict" },
    });
    expect(types(effects)).toEqual(["read"]);
  });

  it("backs off a retry period after a store error, then reads before writing", () => {
    const driver = followerWatching();
    driver.at(16_000, { type: "timer" });
    const error = new UnavailableError("down");
    const effects = driver.at(16_100, {
      type: "completed",
      operationId: driver.pendingId(),
      result: { kind: "failed", error },
    });
    expect(types(effects)).toEqual(["store-error"]);
    expect(driver.wakeAtMs).toBe(18_100);
    expect(types(driver.at(18_100, { type: "timer" }))).toEqual(["read"]);
  });

  it("treats a record naming its own identity, from an earlier life, like anyone else's", () => {
    const driver = new Driver();
    driver.at(0, { type: "start" });
    driver.complete(0, { version: "5", record: record({ holderIdentity: "me" }) });
    expect(isLeading(driver.state, 1)).toBe(false);
    expect(driver.wakeAtMs).toBe(15_000);
  });
});

describe("leader", () => {
  it("starts leading with the record's leaderTransitions as fencing token", () => {
    const driver = leader();
    expect(
      driver.effects.some((effect) => effect.type === "started-leading" && effect.fencingToken === 0),
    ).toBe(true);
  });

  it("renews with one conditional write on the version it holds, no read first", () => {
    const driver = leader();
    expect(driver.wakeAtMs).toBe(2000);
    const effects = driver.at(2000, { type: "timer" });
    expect(types(effects)).toEqual(["update"]);
    const update = effects[0];
    expect(update?.type === "update" && update.expectedVersion).toBe("1");
  });

  it("times renewals on a 20 ms grid, never later than a retry period, so many elections renew together", () => {
    const due: number[] = [];
    for (const sentAtMs of [2003, 2011, 2019.5]) {
      const driver = leader();
      driver.at(sentAtMs, { type: "timer" });
      driver.complete(sentAtMs + 40, {
        version: "2",
        record: record({ holderIdentity: "me", leaderTransitions: 0 }),
      });
      due.push(driver.wakeAtMs ?? Number.NaN);
    }
    // Sent within 17 ms of each other, due at one instant: at most 20 ms (a fiftieth of the retry
    // period, capped) before a retry period after each send.
    expect(due).toEqual([4000, 4000, 4000]);
    const fast = new Driver({ ...config, leaseDurationMs: 1000, renewDeadlineMs: 700, retryPeriodMs: 150 });
    fast.at(0, { type: "start" });
    fast.complete(0, null);
    fast.at(0, { type: "timer" });
    fast.complete(5, { version: "1", record: record({ holderIdentity: "me", leaderTransitions: 0 }) });
    fast.at(151, { type: "timer" });
    fast.complete(160, { version: "2", record: record({ holderIdentity: "me", leaderTransitions: 0 }) });
    expect(fast.wakeAtMs).toBe(300); // 151 + 150, back to the 3 ms grid
  });

  it("extends its deadline from when the renewal was sent, not when the answer came", () => {
    const driver = leader();
    driver.at(2000, { type: "timer" });
    driver.complete(2900, { version: "2", record: record({ holderIdentity: "me", leaderTransitions: 0 }) });
    expect(driver.state.term?.safeUntilMs).toBe(12_000);
  });

  it("steps down when no renewal succeeded for the renew deadline, even with a call in flight", () => {
    const driver = leader();
    driver.at(2000, { type: "timer" }); // renewal sent, never answered
    expect(driver.wakeAtMs).toBe(10_000);
    expect(isLeading(driver.state, 9_999)).toBe(true);
    expect(isLeading(driver.state, 10_000)).toBe(false);
    const effects = driver.at(10_000, { type: "timer" });
    expect(effects[0]).toMatchObject({ type: "stopped-leading", reason: "renew-deadline" });
  });

  it("steps down before applying a late answer that arrives after the deadline", () => {
    const driver = leader();
    driver.at(2000, { type: "timer" });
    const effects = driver.complete(11_000, {
      version: "2",
      record: record({ holderIdentity: "me", leaderTransitions: 0 }),
    });
    expect(effects[0]).toMatchObject({ type: "stopped-leading", reason: "renew-deadline" });
    expect(isLeading(driver.state, 11_000)).toBe(false);
  });

  it("steps down at once when the store shows another holder", () => {
    const driver = leader();
    const effects = driver.at(3000, {
      type: "observed",
      snapshot: { version: "9", record: record({ holderIdentity: "intruder", leaderTransitions: 1 }) },
    });
    expect(types(effects)).toEqual(["stopped-leading", "leader-changed"]);
  });

  it("on stop, aborts first and then releases with an empty holder and a one-second lease", () => {
    const driver = leader();
    const effects = driver.at(3000, { type: "stop", release: true });
    expect(types(effects)).toEqual(["stopped-leading", "update", "leader-changed"]);
    const release = effects[1];
    expect(release?.type === "update" && release.record).toMatchObject({
      holderIdentity: "",
      leaseDurationSeconds: 1,
      leaderTransitions: 0,
    });
    expect(types(driver.complete(3010, { version: "2", record: record({ holderIdentity: "" }) }))).toContain(
      "stopped",
    );
  });

  it("on stop without release, stops at once and writes nothing", () => {
    const driver = leader();
    expect(types(driver.at(3000, { type: "stop", release: false }))).toEqual(["stopped-leading", "stopped"]);
  });

  it("re-acquires with a higher token after losing the lock and seeing it released", () => {
    const driver = leader();
    driver.at(3000, {
      type: "observed",
      snapshot: { version: "9", record: record({ holderIdentity: "intruder", leaderTransitions: 1 }) },
    });
    const effects = driver.at(4000, {
      type: "observed",
      snapshot: { version: "10", record: record({ holderIdentity: "", leaderTransitions: 1 }) },
    });
    const update = effects.find((effect) => effect.type === "update");
    expect(update?.type === "update" && update.record.leaderTransitions).toBe(2);
  });
});

describe("records this elector wrote and no longer acts on", () => {
  const ownRecord = (leaderTransitions: number): LeaderRecord =>
    record({
      holderIdentity: "me",
      leaderTransitions,
      acquireTime: "2026-11-25T10:00:00.000000Z",
      renewTime: "2026-11-25T10:00:00.000000Z",
    });

  it("takes over at once an acquisition that landed though its answer was lost", () => {
    const driver = new Driver();
    driver.at(0, { type: "start" });
    driver.complete(0, null); // create sent at 0
    const failed = driver.at(3000, {
      type: "completed",
      operationId: driver.pendingId(),
      result: { kind: "failed", error: new UnavailableError("answer lost") },
    });
    expect(types(failed)).toEqual(["store-error"]);
    driver.at(5000, { type: "timer" }); // the read after the backoff
    // The create had landed: the lock names this elector, with the token and time it sent.
    const effects = driver.complete(5010, { version: "1", record: ownRecord(0) });
    const update = effects.find((effect) => effect.type === "update");
    expect(update?.type === "update" && update.expectedVersion).toBe("1");
    expect(update?.type === "update" && update.record.leaderTransitions).toBe(1);
    driver.complete(5020, { version: "2", record: ownRecord(1) });
    expect(isLeading(driver.state, 5020)).toBe(true);
    expect(driver.state.term?.safeUntilMs).toBe(5010 + config.renewDeadlineMs);
  });

  it("re-acquires at once, with a new token, after a renewal that landed past the deadline", () => {
    const driver = leader();
    driver.at(2000, { type: "timer" }); // renewal sent, answered after the deadline
    const late = driver.complete(11_000, { version: "2", record: ownRecord(0) });
    expect(late[0]).toMatchObject({ type: "stopped-leading", reason: "renew-deadline" });
    const update = late.find((effect) => effect.type === "update");
    expect(update?.type === "update" && update.expectedVersion).toBe("2");
    expect(update?.type === "update" && update.record.leaderTransitions).toBe(1);
  });

  it("waits out a full lease for the same identity written by another process (a restart)", () => {
    const driver = new Driver();
    driver.at(0, { type: "start" });
    // Same identity, token and acquire time this fresh elector never sent.
    driver.complete(0, { version: "5", record: ownRecord(0) });
    expect(driver.wakeAtMs).toBe(15_000);
    expect(types(driver.at(14_999, { type: "timer" }))).toEqual([]);
  });

  it("waits out a full lease when only the identity matches one of its terms", () => {
    const driver = leader(); // term: token 0, acquired at the driver's wall time
    driver.at(3000, {
      type: "observed",
      snapshot: { version: "9", record: record({ holderIdentity: "intruder", leaderTransitions: 1 }) },
    });
    // The same identity with another token: a twin, not this elector's write.
    driver.at(4000, { type: "observed", snapshot: { version: "10", record: ownRecord(2) } });
    expect(driver.wakeAtMs).toBe(19_000);
  });

  it("still holds off after resign(), even over its own record", () => {
    const driver = leader();
    driver.at(3000, { type: "resign", holdOffMs: 8000 });
    // The release failed, so the lock still shows this elector's renewal.
    driver.at(3100, {
      type: "completed",
      operationId: driver.pendingId(),
      result: { kind: "failed", error: new UnavailableError("down") },
    });
    expect(driver.state.role).toBe("follower");
    driver.at(5100, { type: "timer" });
    const read = driver.complete(5110, { version: "1", record: ownRecord(0) });
    expect(types(read).filter((type) => type === "update" || type === "create")).toEqual([]);
    expect(driver.wakeAtMs).toBe(11_000);
  });
});

describe("coordinated (a coordinator outside the candidates picks the holder)", () => {
  const coordinated: MachineConfig = { ...config, coordinated: true, yieldToPreferredHolder: true };

  it("never creates the lock, nor takes over a released or expired one", () => {
    const driver = new Driver(coordinated);
    driver.at(0, { type: "start" });
    expect(types(driver.complete(10, null))).toEqual([]);
    driver.at(20, { type: "observed", snapshot: { version: "3", record: record({ holderIdentity: "" }) } });
    driver.at(30, { type: "observed", snapshot: { version: "4", record: record() } });
    // Long after the lease the other holder wrote has run out: still nothing written.
    expect(types(driver.at(60_000, { type: "timer" }))).toEqual(["leader-changed"]);
    expect(driver.effects.some((effect) => effect.type === "create" || effect.type === "update")).toBe(false);
  });

  it("starts a term at once when the lock names it: a compare-and-swap on that version with a new token", () => {
    const driver = new Driver(coordinated);
    driver.at(0, { type: "start" });
    driver.complete(10, { version: "4", record: record() });
    // The coordinator writes this candidate in (no acquireTime, its own 5 s lease).
    const effects = driver.at(500, {
      type: "observed",
      snapshot: {
        version: "5",
        record: record({
          holderIdentity: "me",
          leaseDurationSeconds: 5,
          acquireTime: "",
          leaderTransitions: 4,
        }),
      },
    });
    const update = effects.find((effect) => effect.type === "update");
    expect(update?.type === "update" && update.expectedVersion).toBe("5");
    expect(update?.type === "update" && update.record).toMatchObject({
      holderIdentity: "me",
      leaseDurationSeconds: 15,
      leaderTransitions: 5,
    });
    driver.complete(540, { version: "6", record: record({ holderIdentity: "me", leaderTransitions: 5 }) });
    // Its right to act counts from the send time of its own write (500), not from the coordinator's.
    expect(isLeading(driver.state, 500 + 10_000 - 1)).toBe(true);
    expect(isLeading(driver.state, 500 + 10_000)).toBe(false);
  });

  it("yields at once when the lock asks for another holder, and releases", () => {
    const driver = new Driver(coordinated);
    driver.at(0, { type: "start" });
    driver.complete(10, { version: "5", record: record({ holderIdentity: "me", leaderTransitions: 4 }) });
    driver.complete(50, { version: "6", record: record({ holderIdentity: "me", leaderTransitions: 5 }) });
    expect(isLeading(driver.state, 60)).toBe(true);
    const effects = driver.at(100, {
      type: "observed",
      snapshot: {
        version: "7",
        record: record({ holderIdentity: "me", leaderTransitions: 5 }),
        preferredHolder: "better",
      },
    });
    expect(effects[0]).toMatchObject({ type: "stopped-leading", reason: "yielded" });
    const release = effects.find((effect) => effect.type === "update");
    expect(release?.type === "update" && release.record.holderIdentity).toBe("");
    expect(isLeading(driver.state, 100)).toBe(false);
  });

  it("ignores a request naming itself, and one when yielding is off", () => {
    const self = new Driver(coordinated);
    self.at(0, { type: "start" });
    self.complete(10, { version: "5", record: record({ holderIdentity: "me", leaderTransitions: 4 }) });
    self.complete(50, { version: "6", record: record({ holderIdentity: "me", leaderTransitions: 5 }) });
    self.at(100, {
      type: "observed",
      snapshot: {
        version: "7",
        record: record({ holderIdentity: "me", leaderTransitions: 5 }),
        preferredHolder: "me",
      },
    });
    expect(isLeading(self.state, 100)).toBe(true);

    const plain = leader();
    plain.at(100, {
      type: "observed",
      snapshot: {
        version: "2",
        record: record({ holderIdentity: "me", leaderTransitions: 0 }),
        preferredHolder: "x",
      },
    });
    expect(isLeading(plain.state, 100)).toBe(true);
  });

  it("without coordination, a yielding leader stays out for a lease so the preferred candidate can take over", () => {
    const driver = new Driver({ ...config, yieldToPreferredHolder: true });
    driver.at(0, { type: "start" });
    driver.complete(0, null);
    driver.complete(50, { version: "1", record: record({ holderIdentity: "me", leaderTransitions: 0 }) });
    // The renewal at 2000 loses (someone wrote "better" into the request); the read after it shows
    // the lock still ours, but asking for "better".
    expect(types(driver.at(2000, { type: "timer" }))).toEqual(["update"]);
    driver.at(2005, {
      type: "completed",
      operationId: driver.pendingId(),
      result: { kind: "conflict" },
    });
    const effects = driver.complete(2010, {
      version: "2",
      record: record({ holderIdentity: "me", leaderTransitions: 0 }),
      preferredHolder: "better",
    });
    expect(effects[0]).toMatchObject({ type: "stopped-leading", reason: "yielded" });
    expect(driver.state.campaignAfterMs).toBe(2010 + 15_000);
  });
});
