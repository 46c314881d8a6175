/** Command-line options. Pure: parses an argv array. */
import { parseArgs } from "node:util";
import {
  type BackendName,
  backendNames,
  isBackendName,
  isScenario,
  type Scenario,
  scenarioNames,
} from "./types.js";

export interface BenchOptions {
  readonly backends: readonly BackendName[];
  /** Failover scenarios to run (default all; client-go runs only those it has). */
  readonly scenarios: readonly Scenario[];
  readonly trials: number;
  readonly leaseMs: number;
  readonly out: string | undefined;
  /** Where README.md, results.json and chart.svg go; null: nowhere. */
  readonly docsDir: string | null;
  readonly scaleSeconds: number;
  /** Elections per scale run on Redis and etcd (Kubernetes: kubeScaleElections). */
  readonly scaleElections: number;
  readonly kubeScaleElections: number;
  readonly scaleLeaseMs: number;
  /** Elections in the Consul scale run. */
  readonly consulScaleElections: number;
  /** Trials per scenario of client-go and Tenure at client-go's defaults on Kubernetes (0: none). */
  readonly kubeDefaultsTrials: number;
  /** A busy-looping process runs beside every scale run. */
  readonly cpuNeighbour: boolean;
  /** The scale worker's V8 old-generation cap (`--max-old-space-size`), in MB; 0: V8's default. */
  readonly scaleHeapMb: number;
  /** Every election of the scale run also has a follower (a second elector in the worker). */
  readonly scaleFollowers: boolean;
  /** Leases of the shortest-lease search, longest first; empty: no search. */
  readonly leaseSearchMs: readonly number[];
  /** Elections per lease-search soak. */
  readonly searchElections: number;
  readonly skipScale: boolean;
  readonly skipLoad: boolean;
  /** Leave out the failover trials (crash, graceful, store outage). */
  readonly skipFailover: boolean;
  readonly skipClientGo: boolean;
  readonly help: boolean;
  /** Only write the docs again from this results JSON (no servers, no trials). */
  readonly render: string | undefined;
}

export const usage = `Usage: npm run bench -- [options]

  --backends LIST        comma-separated, from ${backendNames.join(",")} (default: all)
  --scenarios LIST       comma-separated failover scenarios, from ${scenarioNames.join(",")}
                         (default: all; handover is Tenure's only, store-outage needs a managed server)
  --trials N             trials per scenario per backend (default 10)
  --lease-ms L           lease duration of the failover trials; renew deadline 0.7 L, retry 0.15 L
                         (default 2000; Kubernetes needs whole seconds)
  --out FILE             also write the results JSON there
  --docs DIR             where README.md, results.json and chart.svg go (default docs/benchmarks;
                         --no-docs: nowhere)
  --scale-seconds S      measured length of each scale run (default 60)
  --scale-elections N    concurrent elections on Redis and etcd (default 1000)
  --scale-10k            10,000 elections on Redis and etcd
  --soak                 the issue's five-minute scale soak (--scale-seconds 300)
  --kube-scale N         concurrent elections on Kubernetes (default 100)
  --consul-scale N       concurrent elections on Consul (default 100)
  --cpu-neighbour        run a busy-looping process beside every scale run
  --scale-heap-mb N      run the scale worker with node --max-old-space-size=N (default 1024; 0: V8's
                         own default, which on a machine with much memory lets the heap grow to
                         four times what is live)
  --scale-followers      give every election of the scale run a follower too (a second elector,
                         another identity, in the same worker and over the same store)
  --lease-search LIST    shortest stable lease: per backend, a scale soak (--scale-seconds long,
                         with a CPU-hungry neighbour) at each lease in LIST (ms, longest first,
                         e.g. 4000,2000,1000,500), stopping at the first with a loss or store error
  --search-elections N   elections per lease-search soak (default 1000)
  --scale-lease-ms L     lease of the scale run (default 15000, client-go's default; retry 0.15 L)
  --kube-defaults-trials N   also N crash and graceful trials of client-go and Tenure on Kubernetes
                         at client-go's defaults (15 s / 10 s / 2 s) (default 0: none)
  --no-scale, --no-load, --no-client-go, --no-failover   leave a part out
  --render FILE          only rewrite the docs (README.md, chart.svg) from a results JSON
  -h, --help`;

function positiveInteger(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0)
    throw new Error(`--${name} must be a positive integer, got ${value}`);
  return number;
}

/** The lease-search list: positive integers of milliseconds, at least 100 each, longest first. */
function leaseList(value: string | undefined): readonly number[] {
  if (value === undefined) return [];
  const leases = value.split(",").map((item) => Number(item.trim()));
  if (leases.some((lease) => !Number.isInteger(lease) || lease < 100))
    throw new Error(`--lease-search must list leases in ms, each an integer of at least 100, got ${value}`);
  return [...new Set(leases)].sort((a, b) => b - a);
}

export function parseOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      backends: { type: "string" },
      scenarios: { type: "string" },
      trials: { type: "string" },
      "lease-ms": { type: "string" },
      out: { type: "string" },
      docs: { type: "string" },
      "no-docs": { type: "boolean" },
      "scale-seconds": { type: "string" },
      "scale-elections": { type: "string" },
      "scale-10k": { type: "boolean" },
      soak: { type: "boolean" },
      "kube-scale": { type: "string" },
      "consul-scale": { type: "string" },
      "kube-defaults-trials": { type: "string" },
      "cpu-neighbour": { type: "boolean" },
      "scale-followers": { type: "boolean" },
      "lease-search": { type: "string" },
      "search-elections": { type: "string" },
      "scale-lease-ms": { type: "string" },
      "scale-heap-mb": { type: "string" },
      "no-scale": { type: "boolean" },
      "no-failover": { type: "boolean" },
      "no-load": { type: "boolean" },
      "no-client-go": { type: "boolean" },
      render: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  const backends = (values.backends ?? backendNames.join(","))
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  const unknown = backends.filter((name) => !isBackendName(name));
  if (unknown.length > 0)
    throw new Error(`unknown backend ${unknown.join(", ")}; known: ${backendNames.join(", ")}`);
  const scenarios = (values.scenarios ?? scenarioNames.join(","))
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  const unknownScenarios = scenarios.filter((name) => !isScenario(name));
  if (unknownScenarios.length > 0 || scenarios.length === 0)
    throw new Error(
      `--scenarios must list some of ${scenarioNames.join(", ")}; got ${values.scenarios ?? ""}`,
    );
  const leaseMs = positiveInteger(values["lease-ms"], "lease-ms", 2000);
  if (leaseMs < 100) throw new Error("--lease-ms must be at least 100");
  const scaleLeaseMs = positiveInteger(values["scale-lease-ms"], "scale-lease-ms", 15_000);
  return {
    backends: backendNames.filter((name) => backends.includes(name)),
    scenarios: scenarioNames.filter((name) => scenarios.includes(name)),
    trials: positiveInteger(values.trials, "trials", 10),
    leaseMs,
    out: values.out,
    docsDir: values["no-docs"] === true ? null : (values.docs ?? "docs/benchmarks"),
    scaleSeconds: values.soak === true ? 300 : positiveInteger(values["scale-seconds"], "scale-seconds", 60),
    scaleElections:
      values["scale-10k"] === true
        ? 10_000
        : positiveInteger(values["scale-elections"], "scale-elections", 1000),
    kubeScaleElections: positiveInteger(values["kube-scale"], "kube-scale", 100),
    consulScaleElections: positiveInteger(values["consul-scale"], "consul-scale", 100),
    cpuNeighbour: values["cpu-neighbour"] === true,
    scaleHeapMb:
      values["scale-heap-mb"] === "0" ? 0 : positiveInteger(values["scale-heap-mb"], "scale-heap-mb", 1024),
    scaleFollowers: values["scale-followers"] === true,
    kubeDefaultsTrials:
      values["kube-defaults-trials"] === undefined
        ? 0
        : positiveInteger(values["kube-defaults-trials"], "kube-defaults-trials", 0),
    leaseSearchMs: leaseList(values["lease-search"]),
    searchElections: positiveInteger(values["search-elections"], "search-elections", 1000),
    scaleLeaseMs,
    skipScale: values["no-scale"] === true,
    skipLoad: values["no-load"] === true,
    skipFailover: values["no-failover"] === true,
    skipClientGo: values["no-client-go"] === true,
    help: values.help === true,
    render: values.render,
  };
}

/** The trials' timings from the lease: renew deadline 0.7 L, retry 0.15 L, rounded to whole ms. */
export function timingFor(leaseMs: number): {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
} {
  return {
    leaseDurationMs: leaseMs,
    renewDeadlineMs: Math.round(leaseMs * 0.7),
    retryPeriodMs: Math.round(leaseMs * 0.15),
  };
}
