/** The targets of a run and whether each was met: measured values in, verdicts out. */
import type {
  BackendName,
  FailoverResult,
  LeaseSearchResult,
  LoadResult,
  ScaleResult,
  TargetResult,
  Verdict,
} from "../types.js";
import { ms, signed } from "./format.js";

/** Extra time a crash failover may take beyond the lease: one round trip and scheduling. */
export const CRASH_SLACK_MS = 250;
export const GRACEFUL_LIMIT_MS = 250;

/** The soak length every scale target asks for. */
export const SOAK_SECONDS = 300;
/** Elections per backend the scale targets ask for. */
export const SCALE_TARGET: Readonly<Record<BackendName, number>> = {
  redis: 10_000,
  etcd: 10_000,
  kubernetes: 1000,
  consul: 1000,
  memory: 0,
};
/** The 10,000-election runs must stay under these (one Node process). */
export const SCALE_CPU_CORES = 1;
export const SCALE_RSS_MB = 500;
/** The shortest stable lease the search aims for on Redis and etcd. */
export const SHORT_LEASE_AIM_MS = 1000;

const verdictOf = (pass: boolean): Verdict => (pass ? "pass" : "fail");

/** Whether a soak held: every election led from the start of the window, no loss, no store error. */
export function stableSoak(row: ScaleResult): boolean {
  return row.leading === row.elections && row.spuriousLosses === 0 && row.storeErrors === 0;
}

/** Why a scale run cannot judge the target: too short or too few elections; undefined when it can. */
function notEvaluated(row: ScaleResult, elections: number): string | undefined {
  const reasons: string[] = [];
  if (row.durationMs < SOAK_SECONDS * 1000 - 1000)
    reasons.push(
      `measured over ${Math.round(row.durationMs / 1000)} s, not ${SOAK_SECONDS} s (run with --soak)`,
    );
  if (row.elections < elections) reasons.push(`${row.elections} elections, not ${elections}`);
  return reasons.length === 0 ? undefined : reasons.join("; ");
}

function scaleTargets(row: ScaleResult): TargetResult[] {
  const wanted = SCALE_TARGET[row.backend];
  if (wanted === 0) return [];
  const skip = notEvaluated(row, wanted);
  const stable = stableSoak(row);
  const targets: TargetResult[] = [
    {
      target: `${wanted.toLocaleString("en-US")} elections for ${SOAK_SECONDS} s: 0 spurious losses, 0 store errors`,
      backend: row.backend,
      verdict: skip !== undefined ? "not evaluated" : verdictOf(stable),
      measured: `${row.spuriousLosses} losses, ${row.storeErrors} store errors over ${Math.round(row.durationMs / 1000)} s; ${row.leading}/${row.elections} leading at the start`,
      limit: "0 losses, 0 store errors, all leading",
      margin:
        row.spuriousLosses + row.storeErrors === 0 ? "0" : `${row.spuriousLosses + row.storeErrors} too many`,
      why:
        skip ??
        (stable
          ? "every leader renewed within its deadline"
          : row.leading < row.elections
            ? "not every election had a leader when the window started (the ramp was too slow)"
            : "leaders missed their renew deadline or calls failed (event-loop delay or store latency)"),
    },
  ];
  if (wanted >= 10_000) {
    const within = row.cpuCoreShare < SCALE_CPU_CORES && row.rssMaxMb < SCALE_RSS_MB;
    targets.push({
      target: `${wanted.toLocaleString("en-US")} elections in one process: under ${SCALE_CPU_CORES} core and ${SCALE_RSS_MB} MB RSS`,
      backend: row.backend,
      verdict: skip !== undefined ? "not evaluated" : verdictOf(within),
      measured: `${row.cpuCoreShare.toFixed(2)} cores, ${row.rssMaxMb.toFixed(0)} MB RSS max`,
      limit: `< ${SCALE_CPU_CORES} core, < ${SCALE_RSS_MB} MB`,
      margin: `${signed(SCALE_CPU_CORES - row.cpuCoreShare, " cores")}, ${signed(SCALE_RSS_MB - row.rssMaxMb, " MB")}`,
      why: skip ?? (within ? "within both limits" : "over a limit (see the scale table)"),
    });
  }
  return targets;
}

function leaseSearchTarget(search: LeaseSearchResult): TargetResult {
  const aim = search.backend === "redis" || search.backend === "etcd" ? SHORT_LEASE_AIM_MS : undefined;
  const full = search.soaks.filter((soak) => notEvaluated(soak, 0) === undefined && soak.cpuNeighbour);
  const shortest = search.shortestStableLeaseMs;
  const skip =
    full.length < search.soaks.length || search.soaks.length === 0
      ? `the soaks were not all ${SOAK_SECONDS} s long with a CPU neighbour`
      : undefined;
  return {
    target: `shortest stable lease for ${search.elections} elections${aim === undefined ? " (reported)" : ` ≤ ${ms(aim)}`}`,
    backend: search.backend,
    verdict:
      skip !== undefined
        ? "not evaluated"
        : aim === undefined
          ? shortest === null
            ? "fail"
            : "pass"
          : verdictOf(shortest !== null && shortest <= aim),
    measured: shortest === null ? "no lease tried was stable" : ms(shortest),
    limit: aim === undefined ? "stable at some lease tried" : ms(aim),
    margin: shortest === null || aim === undefined ? "" : signed(aim - shortest),
    why:
      skip ??
      `soaks at ${search.soaks.map((soak) => `${soak.leaseMs} ms (${soak.spuriousLosses} losses, ${soak.storeErrors} errors)`).join(", ")}`,
  };
}

export function evaluateTargets(
  failover: readonly FailoverResult[],
  load: readonly LoadResult[],
  scale: readonly ScaleResult[],
  leaseSearch: readonly LeaseSearchResult[] = [],
): TargetResult[] {
  const targets: TargetResult[] = [];
  for (const row of failover) {
    if (row.implementation !== "tenure") continue;
    if (row.scenario === "crash") {
      const limit = row.leaseMs + CRASH_SLACK_MS;
      const pass = row.failures === 0 && row.p99Ms <= limit;
      targets.push({
        target: "crash failover p99 ≤ lease + 250 ms",
        backend: row.backend,
        verdict: verdictOf(pass),
        measured: `p99 ${ms(row.p99Ms)} over ${row.samplesMs.length} trials${row.failures > 0 ? `, ${row.failures} failed` : ""}`,
        limit: ms(limit),
        margin: signed(limit - row.p99Ms),
        why: pass
          ? `followers wake at the observed expiry (sighting of the last renewal + lease), so failover is lease − time since that renewal + one CAS`
          : row.failures > 0
            ? "some trials produced no new leader in time (see notes)"
            : `p99 exceeds the limit by ${ms(row.p99Ms - limit)}: the take-over waits a full lease from the follower's last sighting, plus the store's write latency and process scheduling on a loaded 2-core machine`,
      });
    } else if (row.scenario === "store-outage") {
      const limit = row.leaseMs + row.retryPeriodMs + CRASH_SLACK_MS;
      const pass = row.failures === 0 && row.p99Ms <= limit;
      targets.push({
        target: "recovery after a store outage p99 ≤ lease + retry period + 250 ms",
        backend: row.backend,
        verdict: verdictOf(pass),
        measured: `p99 ${ms(row.p99Ms)} over ${row.samplesMs.length} trials${row.failures > 0 ? `, ${row.failures} failed` : ""}`,
        limit: ms(limit),
        margin: signed(limit - row.p99Ms),
        why: pass
          ? "followers back off one retry period per failure and their observation has long expired, so the first read after the outage leads to a takeover; a renewal the old leader sent during the outage that lands late names that leader, which takes it back at once; only a late write from a process that has since restarted starts a fresh lease (hence the lease)"
          : row.failures > 0
            ? "some trials produced no leader after the outage in time (see notes)"
            : `p99 exceeds the limit by ${ms(row.p99Ms - limit)}`,
      });
    } else if (row.scenario === "handover") {
      targets.push(handoverTarget(row, failover));
    } else if (row.watch) {
      const pass = row.failures === 0 && row.overlaps === 0 && row.p99Ms <= GRACEFUL_LIMIT_MS;
      targets.push({
        target: "graceful failover p99 ≤ 250 ms (watch)",
        backend: row.backend,
        verdict: verdictOf(pass),
        measured: `p99 ${ms(row.p99Ms)}, ${row.overlaps} overlapping terms`,
        limit: ms(GRACEFUL_LIMIT_MS),
        margin: signed(GRACEFUL_LIMIT_MS - row.p99Ms),
        why: pass
          ? "the release is pushed to followers by watch; the first follower's CAS wins at once"
          : row.overlaps > 0
            ? "the next leader started before the old one reported stopping: a safety bug"
            : "the release reaches followers late or the CAS is slow (see samples)",
      });
    }
  }
  for (const row of load) {
    if (row.implementation !== "tenure") continue;
    const pass =
      row.leaderReadsPerRenewal === 0 &&
      Math.abs(row.leaderWritesPerRenewal - 1) <= 1.5 / Math.max(1, row.renewals);
    targets.push({
      target: "one conditional write and no read per renewal",
      backend: row.backend,
      verdict: verdictOf(pass),
      measured: `${row.leaderWritesPerRenewal.toFixed(2)} writes, ${row.leaderReadsPerRenewal.toFixed(2)} reads per renewal (${row.renewals} renewals)`,
      limit: "1 write, 0 reads",
      margin: `${signed(row.leaderWritesPerRenewal - 1, " writes")}, ${signed(row.leaderReadsPerRenewal, " reads")}`,
      why: pass
        ? "the leader updates the version it holds; it reads only after a conflict"
        : row.backend === "consul" && row.leaderReadsPerRenewal > 0
          ? "the renewal itself is one /v1/txn CAS; the GET per renewal is the leader's own watch: a Consul blocking query answers every change, the leader's own renewals included, and is sent again (the engine watches in every role; pausing the watch while leading would remove it)"
          : "the server counted more operations than renewals (see the per-operation counts)",
    });
    const eventsPerSecond = 1000 / row.retryPeriodMs;
    const readsPerEvent = row.followerReadsPerSecond / eventsPerSecond;
    const consul = row.backend === "consul";
    const followerPass = consul ? readsPerEvent <= 1.1 : row.followerReadsPerSecond <= 0.1;
    targets.push({
      target: "followers send no polling reads (watch)",
      backend: row.backend,
      verdict: verdictOf(followerPass),
      measured: `${row.followerReadsPerSecond.toFixed(2)} reads/s per follower (${readsPerEvent.toFixed(2)} per lease event)`,
      limit: consul ? "≤ 1 blocking query per lease event" : "0 reads/s",
      margin: consul
        ? signed(1 - readsPerEvent, " per event")
        : signed(-row.followerReadsPerSecond, " reads/s"),
      why: consul
        ? "Consul's watch is a blocking query: the GET returns at each change and is sent again, so one read per lease event is the watch itself, not polling"
        : followerPass
          ? "followers follow the store's push (watch) and only write at expiry"
          : "followers read between lease events",
    });
  }
  for (const row of scale) targets.push(...scaleTargets(row));
  for (const search of leaseSearch) targets.push(leaseSearchTarget(search));
  return targets;
}

/**
 * Handover: the chosen successor wins every trial, no terms overlap, and the p99 from the
 * `handOver()` call to its started-leading is no slower than the graceful failover's p99 on the same
 * backend and settings (a graceful sample counts from SIGTERM, a handover one from the call).
 */
function handoverTarget(row: FailoverResult, failover: readonly FailoverResult[]): TargetResult {
  const graceful = failover.find(
    (other) =>
      other.backend === row.backend &&
      other.implementation === row.implementation &&
      other.scenario === "graceful" &&
      other.leaseMs === row.leaseMs,
  );
  const wins = row.successorWins ?? 0;
  const allWon = wins === row.trials && row.failures === 0;
  const measured = `p99 ${ms(row.p99Ms)}, chosen successor won ${wins} / ${row.trials}, ${row.overlaps} overlapping terms`;
  if (graceful === undefined || graceful.samplesMs.length === 0) {
    const pass = allWon && row.overlaps === 0;
    return {
      target: "handover: the chosen successor wins every trial, no overlap",
      backend: row.backend,
      verdict: verdictOf(pass),
      measured,
      limit: `${row.trials} / ${row.trials} wins`,
      margin: signed(wins - row.trials, " wins"),
      why: pass
        ? "no graceful trials ran beside it to compare times with; the successor took every offered term"
        : "the successor did not take every offered term, or terms overlapped (see notes)",
    };
  }
  const pass = allWon && row.overlaps === 0 && row.p99Ms <= graceful.p99Ms;
  return {
    target: "handover p99 ≤ graceful failover p99, chosen successor wins every trial",
    backend: row.backend,
    verdict: verdictOf(pass),
    measured,
    limit: ms(graceful.p99Ms),
    margin: signed(graceful.p99Ms - row.p99Ms),
    why: pass
      ? "the offer is one compare-and-swap, pushed to the successor by watch (or read at its next poll), and the successor's own compare-and-swap starts its term: the same two writes as a release and a takeover"
      : !allWon
        ? "the successor did not take every offered term (see notes)"
        : row.overlaps > 0
          ? "the next leader started before the old one reported stopping: a safety bug"
          : `p99 exceeds the graceful p99 by ${ms(row.p99Ms - graceful.p99Ms)}`,
  };
}
