/**
 * Short seeded campaigns, one per backend, on real servers started by the harness (each campaign
 * owns its state folder: it pauses, restarts and wipes its servers). Every fault kind the backend
 * supports runs at least once. The long runs behind docs/safety/ are the same code, longer.
 */
import { join } from "node:path";
import { defaultStateDir } from "@tenure/testing";
import { describe, expect, it } from "vitest";
import { runCampaign } from "../src/campaign.ts";
import { allFaults, defaultFaults } from "../src/faults.ts";
import { campaignBackends } from "../src/targets.ts";

const stateDir = (name: string): string => join(defaultStateDir, "test-runs", `fault-campaign-${name}`);
const quiet = (): void => {};

describe.each(campaignBackends)("fault campaign on %s (short, seeded)", (backend) => {
  it("finds no violation outside the documented cases, and a leader within retry + lease after every store outage", async () => {
    const report = await runCampaign({
      backend,
      seed: 20261129,
      durationMs: 180_000,
      // A round of every kind the backend supports (9 or 10), negative controls aside.
      faultCount: 10,
      faults: undefined,
      candidates: 3,
      stateDir: stateDir(backend),
      log: quiet,
    });
    expect(new Set(report.faults.map((fault) => fault.kind)).size).toBe(report.faultKinds.length);
    expect(report.violations.filter((violation) => !violation.expected)).toEqual([]);
    expect(report.summary.recoveryAfterStoreOutage.count).toBeGreaterThan(0);
    expect(report.summary.recoveryAfterStoreOutage.overBound).toBe(0);
  });
});

describe("the campaign's checker on real processes (negative control)", () => {
  it("catches two leaders at once when a clock drifts beyond the bound", async () => {
    const report = await runCampaign({
      backend: "redis",
      seed: 7,
      durationMs: 60_000,
      faultCount: 2,
      faults: ["drift-beyond"],
      candidates: 3,
      stateDir: stateDir("negative-control"),
      log: quiet,
    });
    const overlaps = report.violations.filter((violation) => violation.kind === "overlap");
    expect(overlaps.length).toBeGreaterThan(0);
    // Predicted by the drift bound, so expected; nothing else went wrong.
    expect(overlaps.every((violation) => violation.expected)).toBe(true);
    expect(report.summary.unexpectedViolations).toBe(0);
  });

  it("lists the negative controls apart from the default faults", async () => {
    const fake = { wipeAndRestartStore: async () => {}, cluster: undefined } as never;
    expect(defaultFaults(fake)).not.toContain("drift-beyond");
    expect(defaultFaults(fake)).not.toContain("store-wipe");
    expect(allFaults(fake)).toContain("drift-beyond");
    expect(allFaults(fake)).toContain("store-wipe");
  });
});
