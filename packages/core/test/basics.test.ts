import { describe, expect, it } from "vitest";
import {
  assertValidTiming,
  ConflictError,
  clockDriftTolerance,
  createConsoleLogger,
  DEFAULT_TIMING,
  decodeRecord,
  encodeRecord,
  formatRfc3339,
  InvalidArgumentError,
  TenureError,
  toTenureError,
} from "../src/index.js";

describe("record encoding", () => {
  it("writes client-go's field names in client-go's order", () => {
    const text = encodeRecord({
      holderIdentity: "pod-a",
      leaseDurationSeconds: 10,
      acquireTime: "2016-01-01T00:00:00Z",
      renewTime: "2016-01-01T00:00:05Z",
      leaderTransitions: 2,
    });
    expect(text).toBe(
      '{"holderIdentity":"pod-a","leaseDurationSeconds":10,"acquireTime":"2016-01-01T00:00:00Z","renewTime":"2016-01-01T00:00:05Z","leaderTransitions":2}',
    );
  });

  it("reads an annotation written by client-go, including a released one", () => {
    const decoded = decodeRecord(
      '{"holderIdentity":"","leaseDurationSeconds":1,"acquireTime":"2016-01-01T00:00:00Z","renewTime":"2016-01-01T00:00:05Z","leaderTransitions":3}',
    );
    expect(decoded).toEqual({
      record: {
        holderIdentity: "",
        leaseDurationSeconds: 1,
        acquireTime: "2016-01-01T00:00:00Z",
        renewTime: "2016-01-01T00:00:05Z",
        leaderTransitions: 3,
      },
    });
  });

  it("reports garbage as corrupt instead of guessing", () => {
    expect(decodeRecord("{nope")).toHaveProperty("corruption");
    expect(decodeRecord("[]")).toHaveProperty("corruption");
    expect(decodeRecord('{"holderIdentity":7}')).toHaveProperty("corruption");
    expect(decodeRecord('{"holderIdentity":"a","leaseDurationSeconds":0}')).toHaveProperty("corruption");
    expect(decodeRecord('{"leaderTransitions":-1}')).toHaveProperty("corruption");
  });

  it("formats MicroTime with exactly six fractional digits and metav1.Time with none", () => {
    const time = new Date("2026-11-25T10:11:12.345Z");
    expect(formatRfc3339(time, 6)).toBe("2026-11-25T10:11:12.345000Z");
    expect(formatRfc3339(time, 0)).toBe("2026-11-25T10:11:12Z");
  });
});

describe("timing validation", () => {
  it("accepts client-go's defaults and states their drift tolerance", () => {
    expect(() => assertValidTiming(DEFAULT_TIMING)).not.toThrow();
    expect(clockDriftTolerance(DEFAULT_TIMING)).toBeCloseTo(0.2);
  });

  it.each([
    [
      { leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2000 },
      "leaseDurationMs",
      /greater than renewDeadlineMs/,
    ],
    [
      { leaseDurationMs: 15_000, renewDeadlineMs: 2400, retryPeriodMs: 2000 },
      "renewDeadlineMs",
      /1.2 × retryPeriodMs/,
    ],
    [{ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 0 }, "retryPeriodMs", /positive/],
    [
      { leaseDurationMs: Number.POSITIVE_INFINITY, renewDeadlineMs: 10_000, retryPeriodMs: 2000 },
      "leaseDurationMs",
      /positive/,
    ],
  ])("rejects %j naming %s", (timing, field, rule) => {
    let thrown: unknown;
    try {
      assertValidTiming(timing, undefined, { backend: "memory", election: "demo" });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidArgumentError);
    const error = thrown as InvalidArgumentError;
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.field).toBe(field);
    expect(error.message).toMatch(rule);
    expect(error.message).toContain('[memory] election "demo"');
  });

  it("rejects a lease the store cannot represent", () => {
    expect(() =>
      assertValidTiming(
        { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 200 },
        { watch: true, leaseGranularityMs: 1000 },
      ),
    ).toThrow(/whole seconds/);
  });
});

describe("errors", () => {
  it("carry a code, the context and the cause, and are recognised across copies", () => {
    const cause = new Error("socket hang up");
    const error = new ConflictError("the lock's version moved", {
      backend: "etcd",
      election: "jobs",
      operation: "update",
      cause,
    });
    expect(error.code).toBe("CONFLICT");
    expect(error.name).toBe("ConflictError");
    expect(error.message).toBe('[etcd] election "jobs" update: the lock\'s version moved');
    expect(error.cause).toBe(cause);
    expect(TenureError.is(error, "CONFLICT")).toBe(true);
    expect(TenureError.is(error, "UNAVAILABLE")).toBe(false);
    expect(TenureError.is(new Error("plain"))).toBe(false);
  });

  it("wrap unknown failures as INTERNAL, keeping the original", () => {
    const original = new TypeError("boom");
    const wrapped = toTenureError(original, { backend: "redis" });
    expect(wrapped.code).toBe("INTERNAL");
    expect(wrapped.cause).toBe(original);
  });
});

describe("console logger", () => {
  it("writes readable text and one JSON object per line", () => {
    const lines: string[] = [];
    const stream = { write: (line: string) => lines.push(line) };
    createConsoleLogger({ stream }).info("pod-a is the leader", { election: "example" });
    createConsoleLogger({ stream, format: "json", level: "warn" }).info("hidden");
    createConsoleLogger({ stream, format: "json" }).warn("renew failed", { code: "UNAVAILABLE" });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/INFO {2}pod-a is the leader election=example\n$/);
    expect(JSON.parse(lines[1] ?? "")).toMatchObject({
      level: "warn",
      msg: "renew failed",
      code: "UNAVAILABLE",
    });
  });
});
