/** Orchestrator side of the scale run: one worker process, its progress lines, its result. */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type BackendName, SCALE_ENV, type ScaleConfig, type ScaleResult } from "./types.js";

const workerEntry = fileURLToPath(new URL("./scale-worker.js", import.meta.url));

export async function runScale(
  backend: BackendName,
  config: ScaleConfig,
  onProgress: (message: string) => void,
): Promise<ScaleResult> {
  const child = spawn(process.execPath, [workerEntry], {
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
  };
}
