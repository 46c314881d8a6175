/**
 * One Tenure candidate as its own OS process. Config comes from FAILOVER_BENCH_CANDIDATE (JSON);
 * it reports on stdout one JSON line per event, stamped with process.hrtime.bigint() (on Linux
 * CLOCK_MONOTONIC, the same clock as the orchestrator's and the client-go peer's):
 *
 *   {"event":"ready","identity":"redis-3","monotonicNs":"…"}
 *   {"event":"new-leader","leader":"redis-1","monotonicNs":"…"}
 *   {"event":"started-leading","monotonicNs":"…"}
 *   {"event":"renewed","monotonicNs":"…"}
 *   {"event":"stopped-leading","reason":"stopped","monotonicNs":"…"}
 *
 * SIGTERM stops the elector with release (graceful); SIGKILL is the crash. A stdin line
 * `{"command":"hand-over","successor":"…"}` makes it call `handOver()`, reported as
 * `hand-over-called` (the moment of the call), then `handed-over` or `hand-over-failed`. Exits after 10 minutes
 * at the latest, so no candidate outlives a broken orchestrator for long.
 */

import { createInterface } from "node:readline";
import { openStore } from "@tenure/backends";
import { Elector } from "@tenure/core";
import { CANDIDATE_ENV, type CandidateConfig } from "./types.js";

/** CLOCK_MONOTONIC (as process.hrtime reads it) `ms` milliseconds ago. */
function nsAgo(ms: number): bigint {
  return process.hrtime.bigint() - BigInt(Math.round(ms * 1e6));
}

function emit(fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...fields, monotonicNs: process.hrtime.bigint().toString() })}\n`);
}

async function main(): Promise<void> {
  const raw = process.env[CANDIDATE_ENV];
  if (raw === undefined) throw new Error(`${CANDIDATE_ENV} is not set`);
  const config = JSON.parse(raw) as CandidateConfig;
  const store = await openStore(config.store);
  const elector = new Elector({
    store,
    name: config.election,
    identity: config.identity,
    ...config.timing,
  });
  elector.subscribe((event) => {
    switch (event.type) {
      case "started-leading":
        emit({
          event: "started-leading",
          fencingToken: event.fencingToken,
          // When the winning write left: its term is safe for a renew deadline from that send.
          writeSentNs: nsAgo(
            performance.now() - (event.safeUntilMs - config.timing.renewDeadlineMs),
          ).toString(),
        });
        return;
      case "stopped-leading":
        emit({ event: "stopped-leading", reason: event.reason });
        return;
      case "renewed":
        emit({ event: "renewed", latencyMs: Math.round(event.latencyMs * 10) / 10 });
        return;
      case "leader-changed":
        emit({ event: "new-leader", leader: event.leader });
        return;
      case "store-error":
        emit({ event: "store-error", purpose: event.purpose, message: event.error.message });
        return;
      case "stopped":
        return;
    }
  });
  let stopping = false;
  const finish = async (code: number, reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await elector.stop({ release: true });
    await store.close().catch(() => {});
    emit({ event: "exiting", code, reason });
    process.exit(code);
  };
  process.on("SIGTERM", () => void finish(0, "SIGTERM"));
  process.on("SIGINT", () => void finish(0, "SIGINT"));
  // The orchestrator closing our stdin (or dying) ends us too.
  process.stdin.on("end", () => void finish(0, "orchestrator gone"));
  createInterface({ input: process.stdin }).on("line", (line) => {
    let successor: unknown;
    try {
      const command: unknown = JSON.parse(line);
      if (typeof command === "object" && command !== null && "successor" in command) {
        successor = command.successor;
      }
    } catch {
      return;
    }
    if (typeof successor !== "string") return;
    emit({ event: "hand-over-called", successor });
    elector.handOver(successor).then(
      (result) => emit({ event: "handed-over", successor, fencingToken: result.fencingToken }),
      (error: unknown) =>
        emit({ event: "hand-over-failed", message: error instanceof Error ? error.message : String(error) }),
    );
  });
  setTimeout(() => void finish(3, "max lifetime"), config.maxLifetimeMs).unref();
  elector.start();
  emit({ event: "ready", identity: config.identity, pid: process.pid });
}

main().catch((error: unknown) => {
  emit({ event: "exiting", code: 1, reason: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});
