/**
 * One run of the bench, phase by phase: start the servers, probe the adapters, then per backend the
 * store load and the failover trials (crash, graceful, store outage), client-go on Kubernetes, the
 * scale runs; and finally the results.
 */
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { DEFAULT_TIMING } from "@tenure/core";
import { type BenchOptions, timingFor } from "./args.js";
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
import { evaluateTargets, stableSoak } from "./report/verdicts.js";
import { runScale } from "./scale.js";
import { apiserverStats } from "./server-stats.js";
import { phaseSummary, summarize } from "./stats.js";
import { type StoreSwitch, Trials } from "./trials.js";
import type {
  BenchResults,
  FailoverResult,
  Implementation,
  LeaseSearchResult,
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
  const { startServers, stopServers, pauseServer, resumeServer } = module;
  if (
    typeof startServers !== "function" ||
    typeof stopServers !== "function" ||
    typeof pauseServer !== "function" ||
    typeof resumeServer !== "function"
  )
    throw new Error("@tenure/testing does not export startServers/stopServers/pauseServer/resumeServer");
  return { startServers, stopServers, pauseServer, resumeServer };
}

const stateDir = join(repoRoot, ".tenure", "failover-bench");

/** The first line of an error's message. */
export function message(error: unknown): string {
  return error instanceof Error ? (error.message.split("\n")[0] ?? error.message) : String(error);
}

type MakePool = (election: string) => CandidatePool;

export class BenchRun {
  readonly #options: BenchOptions;
  readonly #runId = Date.now().toString(36);
  readonly #started = Date.now();
  readonly #notes: string[] = [];
  readonly #skipped: SkippedBackend[] = [];
  readonly #failover: FailoverResult[] = [];
  readonly #load: LoadResult[] = [];
  readonly #scale: ScaleResult[] = [];
  readonly #leaseSearch: LeaseSearchResult[] = [];
  #prepared: readonly PreparedBackend[] = [];
  readonly #baseTiming: Timing;
  readonly #scaleTiming: Timing;
  readonly #progress: Progress;
  #harness: Harness | undefined;
  #servers: ServersInfo = { servers: {} };
  readonly #failedServers = new Map<string, string>();

  constructor(options: BenchOptions) {
    this.#options = options;
    this.#baseTiming = timingFor(options.leaseMs);
    this.#scaleTiming =
      options.scaleLeaseMs === DEFAULT_TIMING.leaseDurationMs
        ? DEFAULT_TIMING
        : timingFor(options.scaleLeaseMs);
    const clientGo =
      options.backends.includes("kubernetes") && !options.skipClientGo ? this.#clientGoShare() : 0;
    this.#progress = new Progress(
      options.backends.reduce((sum, name) => sum + this.#share(name), 0) + clientGo,
    );
  }

  /** Runs every phase the options ask for and returns the results. */
  async run(): Promise<BenchResults> {
    await this.#startServers();
    try {
      const prepared = await this.#prepareBackends();
      this.#prepared = prepared;
      for (const backend of prepared) await this.#runBackend(backend);
      if (this.#options.backends.includes("kubernetes") && !this.#options.skipClientGo)
        await this.#runClientGo();
      if (!this.#options.skipScale) await this.#runScale(prepared);
      if (this.#options.leaseSearchMs.length > 0) await this.#runLeaseSearch(prepared);
    } finally {
      this.#progress.step("stopping servers");
      await this.#harness
        ?.stopServers({ stateDir })
        .catch((error: unknown) => this.#progress.line(`stopping servers: ${message(error)}`));
      this.#progress.finish();
    }
    return this.#results();
  }

  // Progress in estimated seconds of work, so the bar moves with time.
  #work = {
    crash: (): number => this.#baseTiming.leaseDurationMs / 1000 + 1.5,
    graceful: (): number => 1.5,
    handover: (): number => 1.5,
    outage: (): number => 3 * (this.#baseTiming.leaseDurationMs / 1000) + 2,
    load: (name: Backend["name"]): number =>
      this.#options.skipLoad || name === "memory" ? 0 : name === "consul" ? 40 : 20,
    scale: (name: Backend["name"]): number =>
      name === "memory"
        ? 0
        : (this.#options.skipScale ? 0 : this.#options.scaleSeconds + 15) +
          this.#options.leaseSearchMs.length * (this.#options.scaleSeconds + 15),
  };

  #share(name: Backend["name"]): number {
    const work = this.#work;
    return (
      (this.#options.skipFailover ? 0 : this.#options.trials) *
        this.#scenarioWork(name === "memory" ? ["store-outage"] : []) +
      work.load(name) +
      work.scale(name)
    );
  }

  #clientGoShare(): number {
    const work = this.#work;
    return (
      (this.#options.skipFailover ? 0 : this.#options.trials) *
        (this.#scenarioWork(["store-outage", "handover"]) + 0.5) +
      work.load("kubernetes") +
      // Both implementations at client-go's defaults: a 15 s lease per crash trial.
      2 * this.#options.kubeDefaultsTrials * (DEFAULT_TIMING.leaseDurationMs / 1000 + 4)
    );
  }

  /** Estimated seconds of one trial of `scenario`. */
  #trialWork(scenario: Scenario): number {
    const work = this.#work;
    return scenario === "store-outage" ? work.outage() : work[scenario]();
  }

  /** Estimated seconds of one trial of each chosen scenario, leaving out `without`. */
  #scenarioWork(without: readonly Scenario[]): number {
    return this.#options.scenarios
      .filter((scenario) => !without.includes(scenario))
      .reduce((sum, scenario) => sum + this.#trialWork(scenario), 0);
  }

  #skip(backend: Backend["name"], what: string, reason: string): void {
    this.#skipped.push({ backend, what, reason });
    this.#progress.line(`\x1b[33mSKIPPED ${backend} (${what}): ${reason}\x1b[0m`);
  }

  /** Servers: each started on its own, so one that cannot start skips only its backend. */
  async #startServers(): Promise<void> {
    const wanted = this.#options.backends.flatMap((name) =>
      backends[name].server === null ? [] : [backends[name].server],
    );
    if (wanted.length === 0) return;
    try {
      const harness = await loadHarness();
      this.#harness = harness;
      // Ctrl-C: stop the servers this run started (candidates end when their stdin closes).
      process.once("SIGINT", () => {
        this.#progress.line("interrupted: stopping servers");
        void harness
          .stopServers({ stateDir })
          .catch(() => {})
          .finally(() => process.exit(130));
      });
      await harness.stopServers({ stateDir });
    } catch (error) {
      this.#progress.line(`cannot load the server harness: ${message(error)}`);
    }
    for (const name of wanted) {
      const harness = this.#harness;
      if (harness === undefined) {
        this.#failedServers.set(name, "the server harness (@tenure/testing) could not be loaded");
        continue;
      }
      this.#progress.step(`starting ${name}`);
      try {
        this.#servers = await harness.startServers([name], {
          stateDir,
          log: (line) => this.#progress.step(`${name}: ${line}`),
        });
      } catch (error) {
        this.#failedServers.set(name, `its server did not start: ${message(error)}`);
      }
    }
  }

  /** Probes each backend's adapter; a broken one is skipped with its reason. */
  async #prepareBackends(): Promise<PreparedBackend[]> {
    const prepared: PreparedBackend[] = [];
    for (const name of this.#options.backends) {
      const backend = backends[name];
      const serverFailure = backend.server === null ? undefined : this.#failedServers.get(backend.server);
      this.#progress.step(`${name}: probing the adapter`);
      if (serverFailure !== undefined) {
        this.#skip(name, "everything", serverFailure);
        this.#progress.advance(this.#share(name));
        continue;
      }
      try {
        prepared.push(await backend.prepare(this.#servers));
      } catch (error) {
        this.#skip(
          name,
          name === "kubernetes" ? "Tenure candidates" : "everything",
          `adapter unusable: ${message(error)}`,
        );
        this.#progress.advance(this.#share(name));
      }
    }
    if (this.#options.backends.includes("memory"))
      this.#notes.push(
        "memory: a memory store cannot be shared across processes, so its three candidates are electors in the bench's own process; SIGKILL is simulated by stop without release (no further store call), SIGTERM by stop with release",
      );
    return prepared;
  }

  /** Store load, then the failover trials, of Tenure on one backend. */
  async #runBackend(backend: PreparedBackend): Promise<void> {
    const timing = backend.name === "kubernetes" ? this.#kubernetesTiming(this.#notes) : this.#baseTiming;
    const makePool: MakePool = (election) => backend.makePool(election, timing);
    if (!this.#options.skipLoad) {
      if (backend.stats === undefined) {
        if (backend.name !== "memory") this.#skip(backend.name, "store load", "no server statistics");
        this.#progress.advance(this.#work.load(backend.name));
      } else await this.#runLoad(backend.name, "tenure", backend.stats, makePool, timing);
    }
    if (this.#options.skipFailover) return;
    try {
      const server = backends[backend.name].server ?? undefined;
      await this.#runTrials(
        backend.name,
        "tenure",
        makePool,
        timing,
        backend.watch,
        backend.processes,
        server,
      );
    } catch (error) {
      this.#skip(backend.name, "failover trials", message(error));
    }
  }

  /** client-go on Kubernetes, at the same settings, even when Tenure's Kubernetes adapter is missing. */
  async #runClientGo(): Promise<void> {
    const failure = this.#failedServers.get("kubernetes");
    if (failure !== undefined) {
      this.#skip("kubernetes", "client-go candidates", failure);
      this.#progress.advance(this.#clientGoShare());
      return;
    }
    try {
      const timing = this.#kubernetesTiming([]);
      const binary = await buildClientGo((line) => this.#progress.step(`kubernetes client-go: ${line}`));
      const makePool: MakePool = (election) => clientGoPool(binary, this.#servers, election, timing);
      const kube = this.#servers.servers.kubernetes;
      if (!this.#options.skipLoad && kube !== undefined) {
        await this.#runLoad("kubernetes", "client-go", apiserverStats(kube.kubeconfig), makePool, timing);
      }
      if (!this.#options.skipFailover)
        await this.#runTrials("kubernetes", "client-go", makePool, timing, false, true);
      const defaultsTrials = this.#options.kubeDefaultsTrials;
      const kubePrepared = this.#prepared.find((backend) => backend.name === "kubernetes");
      if (defaultsTrials > 0) {
        // client-go's own defaults (15 s / 10 s / 2 s), Tenure at the same settings beside it.
        const defaultsPool: MakePool = (election) =>
          clientGoPool(binary, this.#servers, election, DEFAULT_TIMING);
        await this.#runTrials(
          "kubernetes",
          "client-go",
          defaultsPool,
          DEFAULT_TIMING,
          false,
          true,
          undefined,
          defaultsTrials,
        );
        if (kubePrepared !== undefined) {
          const tenurePool: MakePool = (election) => kubePrepared.makePool(election, DEFAULT_TIMING);
          await this.#runTrials(
            "kubernetes",
            "tenure",
            tenurePool,
            DEFAULT_TIMING,
            kubePrepared.watch,
            true,
            undefined,
            defaultsTrials,
          );
        }
      }
    } catch (error) {
      this.#skip("kubernetes", "client-go candidates", message(error));
      this.#progress.advance(this.#clientGoShare());
    }
  }

  #kubernetesTiming(notes: string[]): Timing {
    const timing = this.#baseTiming;
    if (timing.leaseDurationMs % 1000 === 0) return timing;
    const lease = Math.ceil(timing.leaseDurationMs / 1000) * 1000;
    notes.push(
      `Kubernetes leases are whole seconds: its trials used a ${lease} ms lease instead of ${timing.leaseDurationMs} ms`,
    );
    return timingFor(lease);
  }

  /** A store outage switch for trials, when the harness manages the backend's server. */
  #storeSwitch(server: ServerName | undefined): StoreSwitch | undefined {
    const harness = this.#harness;
    if (server === undefined || harness === undefined) return undefined;
    return {
      pause: async () => {
        await harness.pauseServer(server, { stateDir });
      },
      resume: async () => {
        await harness.resumeServer(server, { stateDir });
      },
    };
  }

  async #runTrials(
    backend: PreparedBackend["name"],
    implementation: Implementation,
    makePool: MakePool,
    timing: Timing,
    watch: boolean,
    processes: boolean,
    server?: ServerName,
    count = this.#options.trials,
  ): Promise<void> {
    const pool = makePool(`fb-${this.#runId}-${backend}-${implementation}-${timing.leaseDurationMs}`);
    const store = this.#storeSwitch(server);
    const trials = new Trials(
      pool,
      `${backend}-${implementation === "client-go" ? "go" : "ts"}`,
      timing,
      store,
    );
    // store-outage needs a server to pause; handover needs Tenure (client-go has none).
    const scenarios = this.#options.scenarios.filter(
      (scenario) =>
        (scenario !== "store-outage" || store !== undefined) &&
        (scenario !== "handover" || implementation === "tenure"),
    );
    const label = `${backend} ${implementation}`;
    try {
      for (const scenario of scenarios) {
        this.#progress.step(`${label}: ${scenario} trial 1/${count}`);
        const run = await trials.run(scenario, count, (done) => {
          this.#progress.advance(this.#trialWork(scenario));
          if (done < count) this.#progress.step(`${label}: ${scenario} trial ${done + 1}/${count}`);
        });
        const summary = summarize(run.samplesMs);
        for (const note of run.notes) this.#notes.push(`${label} ${scenario}: ${note}`);
        if (run.overlaps > 0)
          this.#notes.push(
            `${label} ${scenario}: in ${run.overlaps} trials the next leader started before the old one reported stopping`,
          );
        this.#failover.push({
          backend,
          implementation,
          scenario,
          trials: count,
          failures: run.failures,
          overlaps: run.overlaps,
          ...(scenario === "handover" ? { successorWins: run.successorWins } : {}),
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
          phases: phaseSummary(run.phases),
        });
        this.#progress.line(
          `${label} ${scenario}: p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms, max ${summary.maxMs} ms (${run.samplesMs.length}/${count} trials${scenario === "handover" ? `, chosen successor won ${run.successorWins}/${count}` : ""})`,
        );
      }
    } finally {
      await pool.close();
    }
  }

  async #runLoad(
    backend: PreparedBackend["name"],
    implementation: Implementation,
    stats: NonNullable<PreparedBackend["stats"]>,
    makePool: MakePool,
    timing: Timing,
  ): Promise<void> {
    const pool = makePool(`fb-${this.#runId}-${backend}-${implementation}-load`);
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
        onPhase: (label) => this.#progress.step(`${backend} ${implementation}: store load (${label})`),
      });
      this.#load.push(result);
      for (const note of result.notes) this.#notes.push(`${backend} ${implementation} load: ${note}`);
    } catch (error) {
      this.#skip(backend, `${implementation} store load`, message(error));
    } finally {
      await pool.close();
      this.#progress.advance(this.#work.load(backend));
    }
  }

  /** Elections of a backend's scale run (0: none). */
  #scaleElections(backend: PreparedBackend): number {
    const options = this.#options;
    if (backend.scaleElections === 0) return 0;
    if (backend.name === "kubernetes") return options.kubeScaleElections;
    if (backend.name === "consul") return options.consulScaleElections;
    return options.scaleElections;
  }

  async #runScale(prepared: readonly PreparedBackend[]): Promise<void> {
    for (const backend of prepared) {
      const elections = this.#scaleElections(backend);
      if (elections > 0) {
        const result = await this.#scaleRun(
          backend,
          elections,
          this.#scaleTiming,
          this.#options.cpuNeighbour,
        );
        if (result !== undefined) this.#scale.push(result);
      }
      this.#progress.advance(this.#work.scale(backend.name));
    }
    for (const name of this.#options.backends)
      if (name === "memory") this.#notes.push("memory: no scale run (one process, no server)");
  }

  /**
   * The shortest stable lease per backend: a soak of --search-elections at each lease of the list,
   * longest first, with a CPU-hungry neighbour, until one is not stable.
   */
  async #runLeaseSearch(prepared: readonly PreparedBackend[]): Promise<void> {
    const options = this.#options;
    for (const backend of prepared) {
      if (backend.scaleElections === 0) continue;
      const soaks: ScaleResult[] = [];
      let shortest: number | null = null;
      for (const leaseMs of options.leaseSearchMs) {
        if (leaseMs % backend.leaseGranularityMs !== 0) continue;
        const result = await this.#scaleRun(backend, options.searchElections, timingFor(leaseMs), true);
        if (result === undefined) break;
        soaks.push(result);
        if (!stableSoak(result)) break;
        shortest = leaseMs;
      }
      this.#leaseSearch.push({
        backend: backend.name,
        elections: options.searchElections,
        soaks,
        shortestStableLeaseMs: shortest,
      });
      this.#progress.line(
        `${backend.name} lease search: shortest stable lease ${shortest === null ? "none" : `${shortest} ms`}`,
      );
    }
  }

  async #scaleRun(
    backend: PreparedBackend,
    elections: number,
    timing: Timing,
    cpuNeighbour: boolean,
  ): Promise<ScaleResult | undefined> {
    const options = this.#options;
    const followers = options.scaleFollowers;
    const label = `${backend.name}: scale run, ${elections} elections${followers ? " with a follower each" : ""}, lease ${timing.leaseDurationMs} ms${cpuNeighbour ? ", CPU neighbour" : ""}`;
    this.#progress.step(label);
    try {
      const result = await runScale(
        backend.name,
        {
          store: backend.store,
          prefix: `fb-${this.#runId}-scale-${backend.name}-${timing.leaseDurationMs}`,
          elections,
          durationMs: options.scaleSeconds * 1000,
          rampLimitMs: 2 * timing.leaseDurationMs + 30_000,
          timing,
          followers,
        },
        (line) => this.#progress.step(`${label}: ${line}`),
        { stats: backend.stats, cpuNeighbour, heapLimitMb: options.scaleHeapMb },
      );
      this.#progress.line(
        `${label}: ${result.leading}/${result.elections} leading, ${result.spuriousLosses} spurious losses, ${result.storeErrors} store errors, CPU ${result.cpuCoreShare} cores, RSS ${result.rssMaxMb} MB, ELD p99 ${result.eventLoopDelayP99Ms} ms, ${result.storeCallsPerElectionPerRetry} store calls per election per retry${followers ? `, ${result.following} following, ${result.socketsAtEnd ?? "?"} sockets` : ""}`,
      );
      return result;
    } catch (error) {
      this.#skip(
        backend.name,
        `scale run (${elections} elections, lease ${timing.leaseDurationMs} ms)`,
        message(error),
      );
      return undefined;
    }
  }

  #results(): BenchResults {
    const options = this.#options;
    const versions: Record<string, string> = {};
    for (const [name, record] of Object.entries(this.#servers.servers))
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
    return {
      schema: 2,
      machine,
      options: { ...options },
      durationMs: Date.now() - this.#started,
      failover: this.#failover,
      load: this.#load,
      scale: this.#scale,
      leaseSearch: this.#leaseSearch,
      skipped: this.#skipped,
      targets: evaluateTargets(this.#failover, this.#load, this.#scale, this.#leaseSearch),
      notes: this.#notes,
    };
  }
}
