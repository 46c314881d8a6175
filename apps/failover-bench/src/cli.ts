#!/usr/bin/env node
/**
 * failover-bench: failover time and store load of Tenure per backend, against real servers, with
 * candidates as separate OS processes, and side by side with client-go on Kubernetes.
 * See apps/failover-bench/README.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { DEFAULT_TIMING } from "@tenure/core";
import { type BenchOptions, parseOptions, timingFor, usage } from "./args.js";
import {
  type Backend,
  backends,
  buildClientGo,
  clientGoPool,
  type PreparedBackend,
  repoRoot,
  type ServerName,
  type ServersInfo,
} from "./backends.js";
import { measureLoad } from "./load.js";
import type { CandidatePool } from "./pool.js";
import { Progress } from "./progress.js";
import {
  evaluateTargets,
  failoverTable,
  formatJson,
  renderMarkdown,
  renderSvg,
  skippedList,
  targetsTable,
} from "./report.js";
import { runScale } from "./scale.js";
import { apiserverStats } from "./server-stats.js";
import { summarize } from "./stats.js";
import { Trials } from "./trials.js";
import type {
  BenchResults,
  FailoverResult,
  Implementation,
  LoadResult,
  MachineInfo,
  ScaleResult,
  Scenario,
  SkippedBackend,
  Timing,
} from "./types.js";

/** The harness's API, loaded at run time (it ships TypeScript sources, which Node 24 runs as is). */
interface Harness {
  startServers(
    names: readonly ServerName[],
    options: { stateDir: string; fresh?: boolean; log?: (message: string) => void },
  ): Promise<ServersInfo>;
  stopServers(options: { stateDir: string }): Promise<unknown>;
  pauseServer(name: ServerName, options: { stateDir: string }): Promise<unknown>;
  resumeServer(name: ServerName, options: { stateDir: string }): Promise<unknown>;
}

async function loadHarness(): Promise<Harness> {
  const specifier = "@tenure/testing";
  const module = (await import(specifier)) as Partial<Harness>;
  if (
    typeof module.startServers !== "function" ||
    typeof module.stopServers !== "function" ||
    typeof module.pauseServer !== "function" ||
    typeof module.resumeServer !== "function"
  )
    throw new Error("@tenure/testing does not export startServers/stopServers/pauseServer/resumeServer");
  return {
    startServers: module.startServers,
    stopServers: module.stopServers,
    pauseServer: module.pauseServer,
    resumeServer: module.resumeServer,
  };
}

const stateDir = join(repoRoot, ".tenure", "failover-bench");

function message(error: unknown): string {
  return error instanceof Error ? (error.message.split("\n")[0] ?? error.message) : String(error);
}

function kubernetesTiming(timing: Timing, notes: string[]): Timing {
  if (timing.leaseDurationMs % 1000 === 0) return timing;
  const lease = Math.ceil(timing.leaseDurationMs / 1000) * 1000;
  notes.push(
    `Kubernetes leases are whole seconds: its trials used a ${lease} ms lease instead of ${timing.leaseDurationMs} ms`,
  );
  return timingFor(lease);
}

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
    if (results.schema !== 1) throw new Error(`${options.render} is not a failover-bench results file`);
    writeDocs(options.docsDir, results);
    process.stdout.write(`${failoverTable(results.failover)}\n`);
    return 0;
  }
  const started = Date.now();
  const runId = Date.now().toString(36);
  const notes: string[] = [];
  const skipped: SkippedBackend[] = [];
  const failover: FailoverResult[] = [];
  const load: LoadResult[] = [];
  const scale: ScaleResult[] = [];
  const baseTiming = timingFor(options.leaseMs);
  const scaleTiming: Timing =
    options.scaleLeaseMs === DEFAULT_TIMING.leaseDurationMs
      ? DEFAULT_TIMING
      : timingFor(options.scaleLeaseMs);

  // Progress in estimated seconds of work, so the bar moves with time.
  const work = {
    crash: baseTiming.leaseDurationMs / 1000 + 1.5,
    graceful: 1.5,
    outage: 3 * (baseTiming.leaseDurationMs / 1000) + 2,
    load: (name: Backend["name"]): number =>
      options.skipLoad || name === "memory" ? 0 : name === "consul" ? 40 : 20,
    scale: (name: Backend["name"]): number =>
      options.skipScale || !["redis", "etcd", "kubernetes"].includes(name) ? 0 : options.scaleSeconds + 15,
  };
  const share = (name: Backend["name"]): number =>
    options.trials * (work.crash + work.graceful + (name === "memory" ? 0 : work.outage)) +
    work.load(name) +
    work.scale(name);
  const clientGoShare = options.trials * (work.crash + 0.5 + work.graceful) + work.load("kubernetes");
  const progress = new Progress(
    options.backends.reduce((sum, name) => sum + share(name), 0) +
      (options.backends.includes("kubernetes") && !options.skipClientGo ? clientGoShare : 0),
  );
  const skip = (backend: Backend["name"], what: string, reason: string): void => {
    skipped.push({ backend, what, reason });
    progress.line(`\x1b[33mSKIPPED ${backend} (${what}): ${reason}\x1b[0m`);
  };

  // Servers: each started on its own, so one that cannot start skips only its backend.
  let harness: Harness | undefined;
  let servers: ServersInfo = { servers: {} };
  const wanted = options.backends.flatMap((name) =>
    backends[name].server === null ? [] : [backends[name].server],
  );
  if (wanted.length > 0) {
    try {
      harness = await loadHarness();
      const loaded = harness;
      // Ctrl-C: stop the servers this run started (candidates end when their stdin closes).
      process.once("SIGINT", () => {
        progress.line("interrupted: stopping servers");
        void loaded
          .stopServers({ stateDir })
          .catch(() => {})
          .finally(() => process.exit(130));
      });
      await harness.stopServers({ stateDir });
    } catch (error) {
      progress.line(`cannot load the server harness: ${message(error)}`);
    }
  }
  const failedServers = new Map<string, string>();
  for (const name of wanted) {
    if (harness === undefined) {
      failedServers.set(name, "the server harness (@tenure/testing) could not be loaded");
      continue;
    }
    progress.step(`starting ${name}`);
    try {
      servers = await harness.startServers([name], {
        stateDir,
        log: (line) => progress.step(`${name}: ${line}`),
      });
    } catch (error) {
      failedServers.set(name, `its server did not start: ${message(error)}`);
    }
  }

  const prepared: PreparedBackend[] = [];
  try {
    for (const name of options.backends) {
      const backend = backends[name];
      const serverFailure = backend.server === null ? undefined : failedServers.get(backend.server);
      progress.step(`${name}: probing the adapter`);
      if (serverFailure !== undefined) {
        skip(name, "everything", serverFailure);
        progress.advance(share(name));
      } else {
        try {
          prepared.push(await backend.prepare(servers));
        } catch (error) {
          skip(
            name,
            name === "kubernetes" ? "Tenure candidates" : "everything",
            `adapter unusable: ${message(error)}`,
          );
          progress.advance(share(name));
        }
      }
    }
    if (options.backends.includes("memory"))
      notes.push(
        "memory: a memory store cannot be shared across processes, so its three candidates are electors in the bench's own process; SIGKILL is simulated by stop without release (no further store call), SIGTERM by stop with release",
      );

    const runTrials = async (
      backend: PreparedBackend["name"],
      implementation: Implementation,
      makePool: (election: string) => CandidatePool,
      timing: Timing,
      watch: boolean,
      processes: boolean,
      server?: ServerName,
    ): Promise<void> => {
      const election = `fb-${runId}-${backend}-${implementation}`;
      const pool = makePool(election);
      const store =
        server === undefined || harness === undefined
          ? undefined
          : {
              pause: async () => {
                await harness.pauseServer(server, { stateDir });
              },
              resume: async () => {
                await harness.resumeServer(server, { stateDir });
              },
            };
      const trials = new Trials(
        pool,
        `${backend}-${implementation === "client-go" ? "go" : "ts"}`,
        timing,
        store,
      );
      const scenarios: Scenario[] =
        store === undefined ? ["crash", "graceful"] : ["crash", "graceful", "store-outage"];
      try {
        for (const scenario of scenarios) {
          progress.step(`${backend} ${implementation}: ${scenario} trial 1/${options.trials}`);
          const run = await trials.run(scenario, options.trials, (done) => {
            progress.advance(work[scenario === "store-outage" ? "outage" : scenario]);
            if (done < options.trials)
              progress.step(`${backend} ${implementation}: ${scenario} trial ${done + 1}/${options.trials}`);
          });
          const summary = summarize(run.samplesMs);
          for (const note of run.notes) notes.push(`${backend} ${implementation} ${scenario}: ${note}`);
          if (run.overlaps > 0)
            notes.push(
              `${backend} ${implementation} ${scenario}: in ${run.overlaps} trials the next leader started before the old one reported stopping`,
            );
          failover.push({
            backend,
            implementation,
            scenario,
            trials: options.trials,
            failures: run.failures,
            overlaps: run.overlaps,
            leaseMs: timing.leaseDurationMs,
            renewDeadlineMs: timing.renewDeadlineMs,
            retryPeriodMs: timing.retryPeriodMs,
            watch,
            processes,
            p50Ms: summary.p50Ms,
            p99Ms: summary.p99Ms,
            maxMs: summary.maxMs,
            minMs: summary.minMs,
            meanMs: summary.meanMs,
            samplesMs: run.samplesMs,
          });
          progress.line(
            `${backend} ${implementation} ${scenario}: p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms, max ${summary.maxMs} ms (${run.samplesMs.length}/${options.trials} trials)`,
          );
        }
      } finally {
        await pool.close();
      }
    };

    const runLoad = async (
      backend: PreparedBackend["name"],
      implementation: Implementation,
      stats: NonNullable<PreparedBackend["stats"]>,
      makePool: (election: string) => CandidatePool,
      timing: Timing,
    ): Promise<void> => {
      const pool = makePool(`fb-${runId}-${backend}-${implementation}-load`);
      try {
        const result = await measureLoad({
          backend,
          implementation,
          stats,
          timing,
          pool,
          prefix: `${backend}-${implementation === "client-go" ? "go" : "ts"}-load`,
          windowMs: Math.max(5000, 20 * timing.retryPeriodMs),
          reportsRenewals: implementation === "tenure",
          onPhase: (label) => progress.step(`${backend} ${implementation}: store load (${label})`),
        });
        load.push(result);
        for (const note of result.notes) notes.push(`${backend} ${implementation} load: ${note}`);
      } catch (error) {
        skip(backend, `${implementation} store load`, message(error));
      } finally {
        await pool.close();
        progress.advance(work.load(backend));
      }
    };

    for (const backend of prepared) {
      const timing = backend.name === "kubernetes" ? kubernetesTiming(baseTiming, notes) : baseTiming;
      const makePool = (election: string): CandidatePool => backend.makePool(election, timing);
      if (!options.skipLoad) {
        if (backend.stats === undefined) {
          if (backend.name !== "memory") skip(backend.name, "store load", "no server statistics");
          progress.advance(work.load(backend.name));
        } else await runLoad(backend.name, "tenure", backend.stats, makePool, timing);
      }
      try {
        const server = backends[backend.name].server ?? undefined;
        await runTrials(backend.name, "tenure", makePool, timing, backend.watch, backend.processes, server);
      } catch (error) {
        skip(backend.name, "failover trials", message(error));
      }
    }

    // client-go on Kubernetes, at the same settings, even when Tenure's Kubernetes adapter is missing.
    if (options.backends.includes("kubernetes") && !options.skipClientGo) {
      if (failedServers.has("kubernetes")) {
        skip("kubernetes", "client-go candidates", failedServers.get("kubernetes") ?? "");
        progress.advance(clientGoShare);
      } else {
        try {
          const timing = kubernetesTiming(baseTiming, []);
          const binary = await buildClientGo((line) => progress.step(`kubernetes client-go: ${line}`));
          const makePool = (election: string): CandidatePool =>
            clientGoPool(binary, servers, election, timing);
          const kube = servers.servers.kubernetes;
          if (!options.skipLoad && kube !== undefined) {
            await runLoad("kubernetes", "client-go", apiserverStats(kube.kubeconfig), makePool, timing);
          }
          await runTrials("kubernetes", "client-go", makePool, timing, false, true);
        } catch (error) {
          skip("kubernetes", "client-go candidates", message(error));
          progress.advance(clientGoShare);
        }
      }
    }

    if (!options.skipScale) {
      for (const backend of prepared) {
        const elections =
          backend.scaleElections === 0
            ? 0
            : backend.name === "kubernetes"
              ? options.kubeScaleElections
              : options.scaleElections;
        if (elections === 0) {
          progress.advance(work.scale(backend.name));
          continue;
        }
        progress.step(`${backend.name}: scale run, ${elections} elections`);
        try {
          const result = await runScale(
            backend.name,
            {
              store: backend.store,
              prefix: `fb-${runId}-scale-${backend.name}`,
              elections,
              durationMs: options.scaleSeconds * 1000,
              rampLimitMs: 2 * scaleTiming.leaseDurationMs + 30_000,
              timing: scaleTiming,
            },
            (line) => progress.step(`${backend.name}: scale run, ${elections} elections: ${line}`),
          );
          scale.push(result);
          progress.line(
            `${backend.name} scale: ${result.leading}/${result.elections} leading, ${result.spuriousLosses} spurious losses, CPU ${result.cpuCoreShare} cores, RSS ${result.rssMaxMb} MB, ELD p99 ${result.eventLoopDelayP99Ms} ms`,
          );
        } catch (error) {
          skip(backend.name, "scale run", message(error));
        }
        progress.advance(work.scale(backend.name));
      }
      for (const name of options.backends)
        if (name === "consul" || name === "memory")
          notes.push(`${name}: no scale run by default (the issue asks for Redis, etcd and Kubernetes)`);
    }
  } finally {
    progress.step("stopping servers");
    if (harness !== undefined)
      await harness
        .stopServers({ stateDir })
        .catch((error: unknown) => progress.line(`stopping servers: ${message(error)}`));
    progress.finish();
  }

  const versions: Record<string, string> = {};
  for (const [name, record] of Object.entries(servers.servers))
    if (record !== undefined) versions[name] = record.version;
  if (options.backends.includes("kubernetes") && !options.skipClientGo)
    versions["client-go"] = "k8s.io/client-go (packages/kubernetes/interop/client-go-elector/go.mod)";
  const machine: MachineInfo = {
    date: new Date().toISOString(),
    nproc: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? "unknown",
    memoryGb: totalmem() / 2 ** 30,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    servers: versions,
  };
  const targets = evaluateTargets(failover, load, scale, 300);
  const results: BenchResults = {
    schema: 1,
    machine,
    options: { ...options },
    durationMs: Date.now() - started,
    failover,
    load,
    scale,
    skipped,
    targets,
    notes,
  };
  const json = formatJson(results);
  if (options.out !== undefined) writeFileSync(resolve(process.cwd(), options.out), json);
  writeDocs(options.docsDir, results);
  const out = process.stdout;
  out.write(`\n${failoverTable(failover)}\n\n`);
  if (targets.length > 0) out.write(`${targetsTable(targets)}\n\n`);
  out.write(`Skipped:\n${skippedList(skipped)}\n\n`);
  out.write(
    `Done in ${Math.round((Date.now() - started) / 1000)} s.${options.docsDir !== null ? ` Wrote ${options.docsDir}/{README.md,results.json,chart.svg}.` : ""}\n`,
  );
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
