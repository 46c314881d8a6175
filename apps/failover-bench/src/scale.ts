/** Orchestrator side of the scale run: one worker process, its progress lines, its result. */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { StatsSource } from "./server-stats.js";
import {
  type BackendName,
  SCALE_ENV,
  type ScaleConfig,
  type ScaleResult,
  type ScaleServerOps,
} from "./types.js";

/** What a scale run measures besides the worker's own numbers. */
export interface ScaleExtras {
  /** The server's operation counters, read over the measured window. */
  readonly stats?: StatsSource | undefined;
  /** Run a busy-looping process beside the worker (the shortest-lease search's CPU-hungry neighbour). */
  readonly cpuNeighbour?: boolean;
  /** The worker's `--max-old-space-size` in MB; 0 or absent: V8's default. */
  readonly heapLimitMb?: number;
}

const workerEntry = fileURLToPath(new URL("./scale-worker.js", import.meta.url));

export async function runScale(
  backend: BackendName,
  config: ScaleConfig,
  onProgress: (message: string) => void,
  extras: ScaleExtras = {},
): Promise<ScaleResult> {
  const neighbour = extras.cpuNeighbour === true ? spawnNeighbour() : undefined;
  try {
    return await scaleRun(backend, config, onProgress, extras);
  } finally {
    neighbour?.kill("SIGKILL");
  }
}

/** A process that keeps one core busy until killed. */
function spawnNeighbour(): ChildProcess {
  const child = spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" });
  child.on("error", () => {});
  return child;
}

async function scaleRun(
  backend: BackendName,
  config: ScaleConfig,
  onProgress: (message: string) => void,
  extras: ScaleExtras,
): Promise<ScaleResult> {
  let serverOps: Promise<ScaleServerOps | null> = Promise.resolve(null);
  const nodeOptions =
    extras.heapLimitMb !== undefined && extras.heapLimitMb > 0
      ? [`--max-old-space-size=${extras.heapLimitMb}`]
      : [];
  const child = spawn(process.execPath, [...nodeOptions, workerEntry], {
    env: { ...process.env, [SCALE_ENV]: JSON.stringify(config) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let result: Record<string, unknown> | undefined;
  let failure: string | undefined;
  if (child.stdout !== null) {
    createInterface({ input: child.stdout }).on("line", (line) => {
      let fields: Record<string, unknown>;
      try {
        fields = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (fields.event === "result") result = fields;
      else if (fields.event === "measuring" && extras.stats !== undefined)
        serverOps = countServerOps(extras.stats, config).catch(() => null);
      else if (fields.event === "exiting") failure = String(fields.reason);
      else if (fields.event === "progress")
        onProgress(
          fields.phase === "ramp"
            ? `ramp: ${String(fields.leading)}/${config.elections} leading`
            : `${Math.round(Number(fields.elapsedMs) / 1000)}/${Math.round(config.durationMs / 1000)} s, ${String(fields.leading)} leading, ${String(fields.spuriousLosses)} losses`,
        );
    });
  }
  const limitMs = config.rampLimitMs + config.durationMs + 60_000;
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      failure = failure ?? `no result within ${limitMs} ms`;
    }, limitMs);
    child.once("exit", (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  if (result === undefined)
    throw new Error(`scale worker exited ${code}: ${failure ?? "no result"}\n${stderr.trim().slice(-1500)}`);
  const number = (key: string): number => Number(result?.[key] ?? Number.NaN);
  return {
    backend,
    elections: number("elections"),
    durationMs: number("durationMs"),
    leaseMs: config.timing.leaseDurationMs,
    renewDeadlineMs: config.timing.renewDeadlineMs,
    retryPeriodMs: config.timing.retryPeriodMs,
    leading: number("leading"),
    rampMs: number("rampMs"),
    renewals: number("renewals"),
    storeErrors: number("storeErrors"),
    spuriousLosses: number("spuriousLosses"),
    cpuCoreShare: number("cpuCoreShare"),
    rssMaxMb: number("rssMaxMb"),
    heapUsedMb: number("heapUsedMb"),
    eventLoopDelayP99Ms: number("eventLoopDelayP99Ms"),
    eventLoopDelayMaxMs: number("eventLoopDelayMaxMs"),
    memoryAtRssMax: (result.memoryAtRssMax ?? null) as ScaleResult["memoryAtRssMax"],
    storeCalls: (result.storeCalls ?? {}) as Record<string, number>,
    storeCallsPerElectionPerRetry: number("storeCallsPerElectionPerRetry"),
    serverOps: await serverOps,
    cpuNeighbour: extras.cpuNeighbour === true,
    nodeOptions,
    followers: config.followers === true,
    ...(config.followers === true ? { following: number("following") } : {}),
    socketsAtEnd: typeof result.socketsAtEnd === "number" ? result.socketsAtEnd : null,
  };
}

/** The server's reads and writes over most of the measured window (it starts as the window does). */
async function countServerOps(stats: StatsSource, config: ScaleConfig): Promise<ScaleServerOps> {
  const window = await stats.window(Math.max(1000, config.durationMs - 2000));
  let reads = 0;
  let writes = 0;
  for (const [operation, count] of Object.entries(window.counts)) {
    const kind = stats.classify(operation);
    if (kind === "read") reads += count;
    else if (kind === "write") writes += count;
  }
  const windowMs = Number(window.endNs - window.startNs) / 1e6;
  return {
    source: stats.source,
    windowMs: Math.round(windowMs),
    reads,
    writes,
    perElectionPerRetry:
      Math.round(((reads + writes) / config.elections / (windowMs / config.timing.retryPeriodMs)) * 1000) /
      1000,
  };
}
