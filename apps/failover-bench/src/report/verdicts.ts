/** The targets of a run and whether each was met: measured values in, verdicts out. */
import type { FailoverResult, LoadResult, ScaleResult, TargetResult } from "../types.js";
import { ms, signed } from "./format.js";

/** Extra time a crash failover may take beyond the lease: one round trip and scheduling. */
export const CRASH_SLACK_MS = 250;
export const GRACEFUL_LIMIT_MS = 250;

export function evaluateTargets(
  failover: readonly FailoverResult[],
  load: readonly LoadResult[],
  scale: readonly ScaleResult[],
  soakSeconds: number,
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
        pass,
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
        pass,
        measured: `p99 ${ms(row.p99Ms)} over ${row.samplesMs.length} trials${row.failures > 0 ? `, ${row.failures} failed` : ""}`,
        limit: ms(limit),
        margin: signed(limit - row.p99Ms),
        why: pass
          ? "followers back off one retry period per failure and their observation has long expired, so the first read after the outage leads to a takeover; a renewal the old leader sent during the outage that lands late names that leader, which takes it back at once; only a late write from a process that has since restarted starts a fresh lease (hence the lease)"
          : row.failures > 0
            ? "some trials produced no leader after the outage in time (see notes)"
            : `p99 exceeds the limit by ${ms(row.p99Ms - limit)}`,
      });
    } else if (row.watch) {
      const pass = row.failures === 0 && row.overlaps === 0 && row.p99Ms <= GRACEFUL_LIMIT_MS;
      targets.push({
        target: "graceful failover p99 ≤ 250 ms (watch)",
        backend: row.backend,
        pass,
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
      pass,
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
      pass: followerPass,
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
  for (const row of scale) {
    if (row.backend !== "redis" && row.backend !== "etcd") continue;
    const pass = row.spuriousLosses === 0 && row.leading === row.elections && row.elections >= 1000;
    const short = row.durationMs < soakSeconds * 1000 - 1000;
    targets.push({
      target: `${row.elections} concurrent elections, zero spurious losses`,
      backend: row.backend,
      pass,
      measured: `${row.spuriousLosses} losses over ${Math.round(row.durationMs / 1000)} s, ${row.leading}/${row.elections} leading, ${row.storeErrors} store errors`,
      limit: "0 losses over 300 s",
      margin: `${row.spuriousLosses === 0 ? "0 losses" : `${row.spuriousLosses} too many`}`,
      why: `${
        row.spuriousLosses > 0
          ? "leaders missed their renew deadline (event-loop delay or store latency)"
          : row.leading < row.elections
            ? "not every election had a leader when the window started (the ramp was too slow)"
            : row.elections < 1000
              ? `only ${row.elections} elections were run (the target is 1,000)`
              : "every leader renewed within its deadline"
      }${short ? `; measured over ${Math.round(row.durationMs / 1000)} s, not five minutes (run with --soak for the full target)` : ""}`,
    });
  }
  return targets;
}
