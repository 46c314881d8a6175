/** Shapes shared by the orchestrator, the candidate processes and the report writers. */
import type { BackendConfig } from "@tenure/backends";

export const backendNames = ["kubernetes", "etcd", "consul", "redis", "memory"] as const;
export type BackendName = (typeof backendNames)[number];

export function isBackendName(name: string): name is BackendName {
  return (backendNames as readonly string[]).includes(name);
}

/**
 * How a candidate process reaches its store: the registry's description (`@tenure/backends`). JSON:
 * passed to candidates through the environment, so the bench uses no TLS material (Buffers).
 */
export type StoreConfig = BackendConfig;

export interface Timing {
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

/**
 * crash: the leader is SIGKILLed; graceful: it is SIGTERMed and releases; store-outage: the store is
 * paused (SIGSTOP) for two leases and resumed, and the sample is from the resume to the next leader;
 * handover: the leader calls `handOver()` naming a random follower, and the sample is from that call
 * to the next started-leading (Tenure only: client-go has no handover).
 */
export type Scenario = "crash" | "graceful" | "store-outage" | "handover";

export const scenarioNames: readonly Scenario[] = ["crash", "graceful", "store-outage", "handover"];

export function isScenario(name: string): name is Scenario {
  return (scenarioNames as readonly string[]).includes(name);
}

/** Who ran the candidates: Tenure, or client-go's leaderelection (Kubernetes only). */
export type Implementation = "tenure" | "client-go";

/** One row of results: failover times of one backend, implementation and scenario. */
export interface FailoverResult {
  readonly backend: BackendName;
  readonly implementation: Implementation;
  readonly scenario: Scenario;
  /** Trials attempted. */
  readonly trials: number;
  /** Trials that produced no new leader within the time limit (not in the samples). */
  readonly failures: number;
  /** Graceful and handover trials in which the next leader started before the old one reported stopping. */
  readonly overlaps: number;
  /** Handover: trials in which the chosen successor was the next leader (absent for other scenarios). */
  readonly successorWins?: number;
  readonly leaseMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  /** Whether followers were told about changes by the store (watch) rather than polling. */
  readonly watch: boolean;
  /** Candidates were separate OS processes (false: memory, one process). */
  readonly processes: boolean;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly minMs: number;
  readonly meanMs: number;
  /** Every sample, kill (or store resume) → next started-leading, in trial order (ms). */
  readonly samplesMs: readonly number[];
  /** Crash and graceful failovers of Tenure split into phases (null: client-go, or no sample). */
  readonly phases: FailoverPhases | null;
}

/**
 * Where a failover's time went, per trial, as Patroni operators publish theirs: detection (kill →
 * the winner sends its compare-and-swap: waiting for the lease, or for the release to arrive),
 * compare-and-swap (sent → the winner starts leading), notification (the winner starts leading →
 * the remaining follower names it).
 */
export interface FailoverPhases {
  readonly detection: PhaseSummary;
  readonly compareAndSwap: PhaseSummary;
  readonly notification: PhaseSummary;
}

export interface PhaseSummary {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly samplesMs: readonly number[];
}

/** Store operations, from the server's own statistics. */
export interface LoadResult {
  readonly backend: BackendName;
  readonly implementation: Implementation;
  readonly source: string;
  readonly leaseMs: number;
  readonly retryPeriodMs: number;
  /** Renewals the lone leader made in its window. */
  readonly renewals: number;
  /** Operations per renewal, by operation, with only the leader running. */
  readonly leaderOpsPerRenewal: Readonly<Record<string, number>>;
  /** Writes and reads per renewal, with only the leader running. */
  readonly leaderWritesPerRenewal: number;
  readonly leaderReadsPerRenewal: number;
  /** Operations per second per follower, by operation (two followers added to the leader). */
  readonly followerOpsPerSecond: Readonly<Record<string, number>>;
  readonly followerReadsPerSecond: number;
  readonly followerWritesPerSecond: number;
  readonly notes: readonly string[];
}

/** Many elections in one process. */
export interface ScaleResult {
  readonly backend: BackendName;
  readonly elections: number;
  readonly durationMs: number;
  readonly leaseMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  /** Elections whose candidate led when the measured window started. */
  readonly leading: number;
  /** From start until every election had a leader. */
  readonly rampMs: number;
  readonly renewals: number;
  readonly storeErrors: number;
  /** stopped-leading with a reason other than "stopped". */
  readonly spuriousLosses: number;
  /** CPU time (user + system) per second of wall time, as a share of one core. */
  readonly cpuCoreShare: number;
  readonly rssMaxMb: number;
  readonly heapUsedMb: number;
  readonly eventLoopDelayP99Ms: number;
  readonly eventLoopDelayMaxMs: number;
  /** `process.memoryUsage()` when the RSS peaked: V8's reserved and used heap, and memory outside it. */
  readonly memoryAtRssMax: {
    readonly heapTotalMb: number;
    readonly heapUsedMb: number;
    readonly externalMb: number;
    readonly arrayBuffersMb: number;
  } | null;
  /** The store calls the electors made in the measured window, by operation (get, create, update, watch). */
  readonly storeCalls: Readonly<Record<string, number>>;
  /** get + create + update per election per retry period: 1 is one conditional write each, no read. */
  readonly storeCallsPerElectionPerRetry: number;
  /** The server's own count of operations over part of the window (round trips or commands), if it has one. */
  readonly serverOps: ScaleServerOps | null;
  /** A busy-looping process ran beside the scale worker for the whole run. */
  readonly cpuNeighbour: boolean;
  /**
   * The V8 flags the worker ran with, e.g. `["--max-old-space-size=1024"]`; `[]`: V8's defaults.
   * Absent in results written before it was recorded (those runs used V8's defaults).
   */
  readonly nodeOptions?: readonly string[];
  /** Each election also had a follower in the worker (--scale-followers); absent in older results. */
  readonly followers?: boolean;
  /** Electors that were following (not leading) when the measured window ended; absent without followers. */
  readonly following?: number;
  /** The worker's open TCP sockets (from /proc/self/fd) at the end of the measured window; null where unknown. */
  readonly socketsAtEnd?: number | null;
}

/** A scale run's operations as the store's server counted them. */
export interface ScaleServerOps {
  /** Where the numbers come from (etcd /metrics, Redis INFO commandstats, …). */
  readonly source: string;
  readonly windowMs: number;
  readonly reads: number;
  readonly writes: number;
  /** Reads + writes per election per retry period: below 1 when a round trip carries several elections. */
  readonly perElectionPerRetry: number;
}

/** The shortest-lease search of one backend: soaks at shrinking leases, with a CPU-hungry neighbour. */
export interface LeaseSearchResult {
  readonly backend: BackendName;
  readonly elections: number;
  /** Each soak, longest lease first; the search stops after the first that is not stable. */
  readonly soaks: readonly ScaleResult[];
  /** The shortest lease whose soak had every election leading, 0 spurious losses and 0 store errors; null if none. */
  readonly shortestStableLeaseMs: number | null;
}

export interface SkippedBackend {
  readonly backend: BackendName;
  readonly what: string;
  readonly reason: string;
}

export type Verdict = "pass" | "fail" | "not evaluated";

export interface TargetResult {
  readonly target: string;
  readonly backend: BackendName;
  /** "not evaluated": the run did not measure what the target asks (too short, too few elections, not run). */
  readonly verdict: Verdict;
  readonly measured: string;
  readonly limit: string;
  readonly margin: string;
  readonly why: string;
}

export interface MachineInfo {
  readonly date: string;
  readonly nproc: number;
  readonly cpuModel: string;
  readonly memoryGb: number;
  readonly node: string;
  readonly platform: string;
  readonly servers: Readonly<Record<string, string>>;
}

export interface BenchResults {
  /** 2 since targets carry a verdict (pass, fail, not evaluated) and the run has a lease search. */
  readonly schema: 2;
  readonly machine: MachineInfo;
  readonly options: Readonly<Record<string, unknown>>;
  readonly durationMs: number;
  readonly failover: readonly FailoverResult[];
  readonly load: readonly LoadResult[];
  readonly scale: readonly ScaleResult[];
  readonly leaseSearch: readonly LeaseSearchResult[];
  readonly skipped: readonly SkippedBackend[];
  readonly targets: readonly TargetResult[];
  readonly notes: readonly string[];
}

/** What a candidate (Tenure or client-go) reports on stdout, one JSON object per line. */
export interface CandidateLine {
  readonly event: string;
  readonly monotonicNs: string;
  readonly identity?: string;
  readonly reason?: string;
  readonly leader?: string | null;
  readonly message?: string;
  /** started-leading (Tenure): when the winning compare-and-swap was sent. */
  readonly writeSentNs?: string;
}

export const CANDIDATE_ENV = "FAILOVER_BENCH_CANDIDATE";

/** A candidate process's configuration (JSON in FAILOVER_BENCH_CANDIDATE). */
export interface CandidateConfig {
  readonly store: StoreConfig;
  readonly election: string;
  readonly identity: string;
  readonly timing: Timing;
  /** Exit after this long whatever happens. */
  readonly maxLifetimeMs: number;
}

export const SCALE_ENV = "FAILOVER_BENCH_SCALE";

/** The scale worker's configuration (JSON in FAILOVER_BENCH_SCALE). */
export interface ScaleConfig {
  readonly store: StoreConfig;
  readonly prefix: string;
  readonly elections: number;
  readonly durationMs: number;
  readonly rampLimitMs: number;
  readonly timing: Timing;
  /**
   * A second elector per election in the same process (another identity, the same store), so every
   * election has a follower and the watches (or polls) of followers are measured too. Default false.
   */
  readonly followers?: boolean;
}
