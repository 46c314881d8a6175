/** The example does what its comments say: who leads, in which order, with rising tokens. */
import { expect, it } from "vitest";
import { runHandoverTour } from "../src/handover.ts";

it("hands over by name, to the best candidate, and yields to a stronger one after the delay", async () => {
  const lines: string[] = [];
  const terms = await runHandoverTour((line) => lines.push(line));
  const leaders = terms.map((term) => term.leader);
  expect(leaders.slice(0, 3)).toEqual(["node-a", "node-c", "node-b"]);
  expect(leaders.at(-1)).toBe("node-d");
  expect(leaders.at(-2)).toBe("node-c");
  const tokens = terms.map((term) => term.fencingToken);
  expect(tokens).toEqual([...tokens].sort((x, y) => x - y));
  expect(new Set(tokens).size).toBe(tokens.length);
  const took = lines.find((line) => line.startsWith("node-d took over"));
  expect(Number(/over (\d+) ms/.exec(took ?? "")?.[1])).toBeGreaterThanOrEqual(1000);
});
