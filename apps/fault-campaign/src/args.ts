/** The command line of `npm run chaos`, parsed and checked. */
import { type FaultKind, faultKinds, faults } from "./faults.ts";
import { type CampaignBackend, campaignBackends } from "./targets.ts";

export const usage = `usage: npm run chaos -- --backend <${campaignBackends.join("|")}> [options]

options:
  --duration <seconds>   inject faults for this long (default 60, or no limit when --fault-count is given)
  --fault-count <n>      stop after n faults, or when --duration ends if it is given too (default: no limit)
  --seed <n>             seed of every random choice; the same seed replays the same faults (default: random, printed)
  --faults <list>        comma-separated fault kinds, or "all" (default: every kind the backend supports
                         except the negative controls, which are expected to produce violations)
  --candidates <n>       candidate processes (default 3)
  --out <file.json>      write the full report (faults, violations, summary) as JSON
  --state-dir <dir>      servers' and work logs' folder (default .tenure/chaos/<backend>)

faults:
${faultKinds.map((kind) => `  ${kind.padEnd(16)} ${faults[kind].summary}`).join("\n")}`;

/** What the command line asks for. */
export interface Arguments {
  readonly backend: CampaignBackend;
  readonly durationMs: number;
  readonly faultCount: number;
  readonly seed: number;
  readonly faults: readonly FaultKind[] | "all" | undefined;
  readonly candidates: number;
  readonly out: string | undefined;
  readonly stateDir: string | undefined;
}

/** A command line that cannot be run; the message says which option and why. */
export class UsageError extends Error {}

function positiveInteger(flag: string, text: string | undefined): number {
  const value = Number(text);
  if (text === undefined || !Number.isSafeInteger(value) || value <= 0) {
    throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** Parses `argv` (without node and the script); "help" for --help. Throws UsageError. */
export function parseArguments(argv: readonly string[]): Arguments | "help" {
  const values = new Map<string, string>();
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index] ?? "";
    if (argument === "--help" || argument === "-h") return "help";
    const [flag, inline] = argument.split("=", 2) as [string, string | undefined];
    const known = [
      "--backend",
      "--duration",
      "--fault-count",
      "--seed",
      "--faults",
      "--candidates",
      "--out",
      "--state-dir",
    ];
    if (!known.includes(flag)) throw new UsageError(`unknown option ${flag}`);
    const value = inline ?? argv[++index];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    values.set(flag, value);
  }
  const backend = values.get("--backend");
  if (backend === undefined || !(campaignBackends as readonly string[]).includes(backend)) {
    throw new UsageError(`--backend must be one of ${campaignBackends.join(", ")}`);
  }
  const faultList = values.get("--faults");
  let chosen: readonly FaultKind[] | "all" | undefined;
  if (faultList === "all") chosen = "all";
  else if (faultList !== undefined) {
    const kinds = faultList.split(",").map((kind) => kind.trim());
    const unknown = kinds.filter((kind) => !(faultKinds as readonly string[]).includes(kind));
    if (unknown.length > 0)
      throw new UsageError(`unknown fault kinds: ${unknown.join(", ")} (known: ${faultKinds.join(", ")})`);
    chosen = kinds as FaultKind[];
  }
  const seedText = values.get("--seed");
  const faultCount = values.has("--fault-count")
    ? positiveInteger("--fault-count", values.get("--fault-count"))
    : Number.POSITIVE_INFINITY;
  let durationMs = Number.isFinite(faultCount) ? Number.POSITIVE_INFINITY : 60_000;
  if (values.has("--duration")) durationMs = positiveInteger("--duration", values.get("--duration")) * 1000;
  return {
    backend: backend as CampaignBackend,
    durationMs,
    faultCount,
    seed: seedText === undefined ? Math.floor(Math.random() * 2 ** 31) : positiveInteger("--seed", seedText),
    faults: chosen,
    candidates: values.has("--candidates") ? positiveInteger("--candidates", values.get("--candidates")) : 3,
    out: values.get("--out"),
    stateDir: values.get("--state-dir"),
  };
}
