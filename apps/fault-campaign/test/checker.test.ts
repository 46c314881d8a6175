/**
 * The checker on hand-made logs: it must find each kind of violation it claims to find (negative
 * controls: a checker that cannot fail proves nothing), and stay quiet on a clean handover.
 */
import { describe, expect, it } from "vitest";
import { check, type FaultRecord } from "../src/checker.ts";
import type { LogLine } from "../src/work-log.ts";

const ms = (value: number): string => String(BigInt(Math.round(value * 1000)) * 1000n);

/** Log lines of one term: its start and work steps every 10 ms from `fromMs` to `toMs`. */
function term(
  identity: string,
  token: number,
  fromMs: number,
  toMs: number,
  incarnation = 1,
  index = 1,
): LogLine[] {
  const lines: LogLine[] = [{ event: "term", t: ms(fromMs), identity, incarnation, term: index, token }];
  for (let at = fromMs; at <= toMs; at += 10) {
    lines.push({ event: "work", t: ms(at), identity, incarnation, term: index, token });
  }
  return lines;
}

function fault(overrides: Partial<FaultRecord> = {}): FaultRecord {
  return {
    index: 0,
    kind: "partition",
    target: "a",
    detail: "",
    startMs: 0,
    healMs: 0,
    expected: [],
    storeOutage: false,
    ...overrides,
  };
}

const options = { attributionMs: 1000 };

describe("checker", () => {
  it("passes a clean handover: terms one after the other, tokens rising", () => {
    const lines = [...term("a", 1, 0, 500), ...term("b", 2, 900, 1500), ...term("a", 3, 1800, 2500, 2)];
    const result = check(lines, [], options);
    expect(result.violations).toEqual([]);
    expect(result.terms).toHaveLength(3);
    expect(result.longestGap).toMatchObject({ ms: 400, fromMs: 500, toMs: 900 });
  });

  it("finds two leaders working at once (negative control)", () => {
    const lines = [...term("a", 1, 0, 1000), ...term("b", 2, 800, 1500)];
    const result = check(lines, [], options);
    expect(result.violations).toMatchObject([
      { kind: "overlap", startMs: 800, endMs: 1000, expected: false, faults: [] },
    ]);
  });

  it("finds a token used twice and a token that went back (negative controls)", () => {
    const reused = check([...term("a", 4, 0, 100), ...term("b", 4, 500, 600)], [], options);
    expect(reused.violations.map((violation) => violation.kind)).toEqual(["reused-token"]);
    const stale = check([...term("a", 4, 0, 100), ...term("b", 3, 500, 600)], [], options);
    expect(stale.violations.map((violation) => violation.kind)).toEqual(["stale-token"]);
  });

  it("counts a term that started but never worked for its token", () => {
    const lines: LogLine[] = [
      { event: "term", t: ms(0), identity: "a", incarnation: 1, term: 1, token: 7 },
      ...term("b", 7, 500, 600),
    ];
    expect(check(lines, [], options).violations.map((violation) => violation.kind)).toEqual(["reused-token"]);
  });

  it("puts a violation down to the faults around it, expected only where the fault predicts it", () => {
    const lines = [...term("a", 1, 0, 1000), ...term("b", 2, 800, 1500)];
    const predicted = fault({
      index: 3,
      kind: "drift-beyond",
      startMs: 100,
      healMs: 900,
      expected: ["overlap"],
    });
    const unrelated = fault({ index: 4, kind: "kill", startMs: 5000, healMs: 6000 });
    const result = check(lines, [predicted, unrelated], options);
    expect(result.violations).toMatchObject([{ kind: "overlap", faults: [3], expected: true }]);
    const other = fault({ index: 5, kind: "partition", startMs: 100, healMs: 900 });
    expect(check(lines, [other], options).violations).toMatchObject([{ faults: [5], expected: false }]);
  });

  it("measures recovery from each fault's heal to the next work step", () => {
    const lines = [...term("a", 1, 0, 100), ...term("b", 2, 1250, 1300)];
    const result = check(
      lines,
      [fault({ index: 0, startMs: 150, healMs: 1000, storeOutage: true })],
      options,
    );
    expect(result.recoveries).toEqual([{ fault: 0, kind: "partition", ms: 250, storeOutage: true }]);
    const none = check(term("a", 1, 0, 100), [fault({ healMs: 500 })], options);
    expect(none.recoveries[0]?.ms).toBeNull();
  });
});
