/**
 * `npm run chaos -- --backend <redis|etcd|consul|kubernetes> [options]`: one seeded fault campaign
 * on real servers. Exit status 0 when the checker found no violation outside the documented cases,
 * 1 when it did, 2 on a usage error.
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { defaultStateDir } from "@tenure/testing";
import { type Arguments, parseArguments, UsageError, usage } from "./args.ts";
import { runCampaign } from "./campaign.ts";
import { formatSummary } from "./report.ts";

async function main(): Promise<number> {
  let parsed: Arguments | "help";
  try {
    parsed = parseArguments(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`fault-campaign: ${error.message}\n\n${usage}\n`);
    return 2;
  }
  if (parsed === "help") {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const args = parsed;
  const stateDir = resolve(args.stateDir ?? join(defaultStateDir, "chaos", args.backend));
  const log = (message: string): void => {
    process.stderr.write(`${new Date().toISOString()} ${message}\n`);
  };
  log(`seed ${args.seed} (replay with --seed ${args.seed})`);
  const report = await runCampaign({
    backend: args.backend,
    seed: args.seed,
    durationMs: args.durationMs,
    faultCount: args.faultCount,
    faults: args.faults,
    candidates: args.candidates,
    stateDir,
    log,
  });
  if (args.out !== undefined) writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${formatSummary(report)}\n`);
  return report.summary.unexpectedViolations === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `fault-campaign: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
