import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ServerSetupError } from "../src/index.ts";
import { launchProcess } from "../src/launch.ts";
import { freePorts } from "../src/ports.ts";

const scratch = mkdtempSync(join(tmpdir(), "tenure-failures-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** pids of live (non-zombie) processes whose command line is exactly `argv`. */
function processesRunning(argv: readonly string[]): number[] {
  const wanted = `${argv.join("\0")}\0`;
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8") === wanted;
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe("failures are loud and bounded", () => {
  it("names the step and the log when a server exits before it is ready", async () => {
    const logFile = join(scratch, "exits.log");
    const [port] = await freePorts(1);
    const failure = await launchProcess("redis", {
      label: "a server that exits",
      binary: "/bin/sh",
      args: ["-c", "echo 'cannot open data folder' >&2; exit 3"],
      logFile,
      probe: { kind: "redis-ping", host: "127.0.0.1", port: port ?? 0 },
      readyTimeoutMs: 10_000,
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ServerSetupError);
    expect((failure as ServerSetupError).message).toMatch(
      /^redis: start failed: process \d+ exited before it was ready/,
    );
    expect((failure as ServerSetupError).logFile).toBe(logFile);
    expect(readFileSync(logFile, "utf8")).toContain("cannot open data folder");
  });

  it("gives up after the readiness timeout and stops the process", async () => {
    const logFile = join(scratch, "hangs.log");
    const uniqueSleep = `599.${process.pid}${Date.now() % 1000}`;
    const [port] = await freePorts(1);
    const started = Date.now();
    const failure = await launchProcess("toxiproxy", {
      label: "a server that never answers",
      binary: "/bin/sleep",
      args: [uniqueSleep],
      logFile,
      probe: { kind: "http", url: `http://127.0.0.1:${port}/version`, bodyPattern: "." },
      readyTimeoutMs: 1_500,
    }).catch((error: unknown) => error);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(failure).toBeInstanceOf(ServerSetupError);
    const message = (failure as ServerSetupError).message;
    expect(message).toMatch(/^toxiproxy: readiness check failed: not ready within 2 s/);
    expect(message).toContain(`(log: ${logFile})`);
    expect(processesRunning(["/bin/sleep", uniqueSleep])).toEqual([]);
  });
});
