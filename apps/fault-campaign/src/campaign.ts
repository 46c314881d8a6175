/**
 * One campaign: start the store and the candidates, inject faults one at a time from a seed, let
 * the election settle after each, then stop everything and check the logs.
 */
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { check, type FaultRecord } from "./checker.ts";
import { allFaults, defaultFaults, type FaultKind, faultPlan, faults } from "./faults.ts";
import { Fleet } from "./fleet.ts";
import { type CampaignReport, summarize } from "./report.ts";
import { type CampaignBackend, type CampaignTarget, startTarget } from "./targets.ts";
import { monotonicMs, parseLog } from "./work-log.ts";

export interface CampaignOptions {
  readonly backend: CampaignBackend;
  readonly seed: number;
  /** Stop injecting after this long (ms)... */
  readonly durationMs: number;
  /** ...or after this many faults, whichever comes first. */
  readonly faultCount: number;
  /** The faults to draw from; `undefined`: the target's defaults. */
  readonly faults: readonly FaultKind[] | "all" | undefined;
  readonly candidates: number;
  /** State folder for the servers and the work logs. */
  readonly stateDir: string;
  /** Pause between two work steps of a leader. Default 10 ms. */
  readonly workIntervalMs?: number;
  readonly log: (message: string) => void;
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignReport> {
  const log = options.log;
  const logDir = join(options.stateDir, "work-logs");
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const startedAt = new Date();
  log(`starting ${options.backend} servers in ${options.stateDir}`);
  const target = await startTarget(options.backend, options.stateDir, log);
  const timing = target.timing;
  const election = `campaign-${options.seed.toString(36)}`;
  const enabled = chooseFaults(options, target);
  const fleet = new Fleet({
    target,
    election,
    timing,
    logDir,
    workIntervalMs: options.workIntervalMs ?? 10,
    log,
  });
  const records: FaultRecord[] = [];
  const campaignStartMs = monotonicMs();
  try {
    for (let index = 1; index <= options.candidates; index++) await fleet.add(`c${index}`);
    const first = await fleet.workAfter(campaignStartMs, 60_000);
    if (first === null) throw new Error("no candidate became leader within 60 s of the start");
    log(`${fleet.leader() ?? "a candidate"} leads; injecting ${enabled.join(", ")}`);
    // Long enough for any election to settle after a fault: a lease, a retry, a slow call, twice over.
    const settleLimitMs = 3 * (timing.leaseDurationMs + timing.retryPeriodMs) + 5_000;
    const plan = faultPlan(options.seed, enabled);
    while (records.length < options.faultCount && monotonicMs() - campaignStartMs < options.durationMs) {
      const { kind, random } = plan.next().value;
      const spec = faults[kind];
      const applied = await spec.run({ fleet, target, timing, random, election });
      const record: FaultRecord = {
        index: records.length,
        kind,
        ...applied,
        expected: spec.expected(target),
        storeOutage: spec.storeOutage,
      };
      records.push(record);
      log(`#${record.index} ${kind} ${record.target}: ${record.detail}`);
      // Let the election recover before the next fault, so faults come one at a time.
      await fleet.workAfter(record.healMs, settleLimitMs);
      await new Promise((resolve) => setTimeout(resolve, random.between(0.2, 1) * timing.leaseDurationMs));
    }
    // A last stretch without faults, so every term's end is in the logs.
    await new Promise((resolve) => setTimeout(resolve, timing.leaseDurationMs));
  } finally {
    await fleet.close();
    await target.close();
  }
  const lines = fleet.logFiles().flatMap((file) => parseLog(readFileSync(file, "utf8")));
  const result = check(lines, records, { attributionMs: 2 * timing.leaseDurationMs });
  return summarize({
    backend: options.backend,
    label: target.label,
    seed: options.seed,
    startedAt: startedAt.toISOString(),
    durationMs: monotonicMs() - campaignStartMs,
    timing,
    candidates: options.candidates,
    enabled,
    faults: records,
    result,
  });
}

function chooseFaults(options: CampaignOptions, target: CampaignTarget): FaultKind[] {
  if (options.faults === undefined) return defaultFaults(target);
  if (options.faults === "all") return allFaults(target);
  const unsupported = options.faults.filter((kind) => !faults[kind].applies(target));
  if (unsupported.length > 0) {
    throw new Error(`${options.backend} does not support: ${unsupported.join(", ")}`);
  }
  return [...options.faults];
}
