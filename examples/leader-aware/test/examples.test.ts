import { describe, expect, it } from "vitest";
import { main as healthStepDown } from "../src/health-step-down.js";
import { main as observeLeader } from "../src/observe-leader.js";

describe("examples", () => {
  it("observe-leader follows a leader, its release and its successor", async () => {
    const seen = await observeLeader();
    const named = seen.map((item) => item.leader).filter((leader) => leader !== null);
    expect(named).toContain("worker-1");
    expect(named).toContain("worker-2");
    expect(seen.some((item) => item.reason === "released")).toBe(true);
  }, 20_000);

  it("health-step-down hands leadership to the healthy worker", async () => {
    expect(await healthStepDown()).toEqual(["worker-1", "worker-2"]);
  }, 20_000);
});
