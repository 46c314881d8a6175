/**
 * One candidate of the campaign as its own OS process, doing what a careful user's program does:
 * while it leads, it works in small steps, and before each step it checks that its leadership is
 * still valid; each step is logged with the token and the host's monotonic time (work-log.ts).
 *
 * Config: the CANDIDATE_ENV variable (JSON, {@link CandidateConfig}). Commands on stdin, one JSON
 * object per line: `{"clockRate": 1.2}` changes the elector's clock rate. SIGTERM stops the elector
 * with release and exits; SIGKILL is a crash; SIGSTOP a stalled process. The campaign closing stdin
 * (or dying) ends the candidate too.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { openStore } from "@tenure/backends";
import { Elector } from "@tenure/core";
import { CANDIDATE_ENV, type CandidateConfig } from "./candidate-config.ts";
import { DriftingClock } from "./drifting-clock.ts";
import { type LogLine, monotonicNs } from "./work-log.ts";

async function main(): Promise<void> {
  const raw = process.env[CANDIDATE_ENV];
  if (raw === undefined) throw new Error(`${CANDIDATE_ENV} is not set`);
  const config = JSON.parse(raw) as CandidateConfig;
  const log = openSync(config.logFile, "a");
  const write = (line: LogLine): void => {
    writeSync(log, `${JSON.stringify(line)}\n`);
  };
  const who = { identity: config.identity, incarnation: config.incarnation };
  write({ event: "start", t: monotonicNs(), ...who, pid: process.pid });

  const clock = new DriftingClock(config.clockRate);
  const store = await openStore(config.backend);
  let terms = 0;
  const elector = new Elector({
    store,
    clock,
    name: config.election,
    identity: config.identity,
    ...config.timing,
    onStartedLeading: async (leadership) => {
      const term = ++terms;
      const token = leadership.fencingToken;
      write({ event: "term", t: monotonicNs(), ...who, term, token });
      while (!leadership.signal.aborted) {
        // Read the time first, then check: the recorded instant is then inside the valid interval.
        const t = monotonicNs();
        if (!leadership.isValid()) break;
        write({ event: "work", t, ...who, term, token });
        await sleep(config.workIntervalMs);
      }
    },
    onStoppedLeading: ({ reason, fencingToken }) => {
      write({ event: "end", t: monotonicNs(), ...who, term: terms, token: fencingToken, reason });
    },
    onNewLeader: (leader) => {
      write({ event: "leader", t: monotonicNs(), ...who, leader });
    },
  });

  let stopping = false;
  const finish = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await elector.stop({ release: true });
    await store.close().catch(() => {});
    closeSync(log);
    process.exit(code);
  };
  process.on("SIGTERM", () => void finish(0));
  process.on("SIGINT", () => void finish(0));
  let pending = "";
  process.stdin.on("data", (chunk: Buffer) => {
    pending += chunk.toString();
    for (let newline = pending.indexOf("\n"); newline >= 0; newline = pending.indexOf("\n")) {
      const command = JSON.parse(pending.slice(0, newline)) as { clockRate?: number };
      pending = pending.slice(newline + 1);
      if (command.clockRate !== undefined) clock.setRate(command.clockRate);
    }
  });
  process.stdin.on("end", () => void finish(0));
  setTimeout(() => void finish(3), config.maxLifetimeMs).unref();
  elector.start();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

main().catch((error: unknown) => {
  process.stderr.write(`candidate failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
