#!/usr/bin/env node
/**
 * failover-bench: failover time and store load of Tenure per backend, against real servers, with
 * candidates as separate OS processes, and side by side with client-go on Kubernetes.
 * See apps/failover-bench/README.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type BenchOptions, parseOptions, usage } from "./args.js";
import { repoRoot } from "./backends.js";
import { renderSvg } from "./report/chart.js";
import { formatJson } from "./report/json.js";
import { renderMarkdown } from "./report/markdown.js";
import { failoverTable, skippedList, targetsTable } from "./report/tables.js";
import { BenchRun, message } from "./run.js";
import type { BenchResults } from "./types.js";

/** results.json, README.md and chart.svg in `docsDir` (relative to the repository root). */
function writeDocs(docsDir: string | null, results: BenchResults): void {
  if (docsDir === null) return;
  const dir = resolve(repoRoot, docsDir);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "results.json"), formatJson(results));
  writeFileSync(join(dir, "README.md"), renderMarkdown(results));
  writeFileSync(join(dir, "chart.svg"), renderSvg(results.failover));
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${message(error)}\n\n${usage}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (options.render !== undefined) {
    const results = JSON.parse(readFileSync(resolve(process.cwd(), options.render), "utf8")) as BenchResults;
    if (results.schema !== 2)
      throw new Error(
        `${options.render} is not a failover-bench results file of schema 2 (docs/benchmarks/results-schema.md)`,
      );
    writeDocs(options.docsDir, results);
    process.stdout.write(`${failoverTable(results.failover)}\n`);
    return 0;
  }
  const results = await new BenchRun(options).run();
  if (options.out !== undefined) writeFileSync(resolve(process.cwd(), options.out), formatJson(results));
  writeDocs(options.docsDir, results);
  const out = process.stdout;
  out.write(`\n${failoverTable(results.failover)}\n\n`);
  if (results.targets.length > 0) out.write(`${targetsTable(results.targets)}\n\n`);
  out.write(`Skipped:\n${skippedList(results.skipped)}\n\n`);
  const wrote =
    options.docsDir !== null ? ` Wrote ${options.docsDir}/{README.md,results.json,chart.svg}.` : "";
  out.write(`Done in ${Math.round(results.durationMs / 1000)} s.${wrote}\n`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `failover-bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
