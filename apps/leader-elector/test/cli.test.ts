import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

function run(args: string[]) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = once(child, "exit").then(([code]) => code as number | null);
  return { child, exited, output: () => ({ stdout, stderr }) };
}

describe("leader-elector command", () => {
  it("rejects a bad flag with one clear line and exit code 2", async () => {
    const { exited, output } = run(["--election=example", "--ttl=ten"]);
    expect(await exited).toBe(2);
    expect(output().stderr).toBe(
      'leader-elector: invalid --ttl: "ten" is not a duration; use a number with a unit, like 10s, 500ms or 1m30s\n',
    );
  });

  it("serves who leads, logs the leader, and on SIGTERM releases and exits 0 promptly", async () => {
    const { child, exited, output } = run([
      "--election=example",
      "--id=pod-a",
      "--http=127.0.0.1:0",
      "--ttl=2s",
    ]);
    // The log names the port it serves on and the leader.
    while (
      !/pod-a is the leader/.test(output().stderr) ||
      !/serving http on 127\.0\.0\.1:(\d+)/.test(output().stderr)
    ) {
      await once(child.stderr, "data");
    }
    const port = /serving http on 127\.0\.0\.1:(\d+)/.exec(output().stderr)?.[1];
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('{"name":"pod-a"}');
    const signalledAt = performance.now();
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(performance.now() - signalledAt).toBeLessThan(2_000);
    expect(output().stderr).toMatch(/SIGTERM: releasing the lock and exiting/);
    expect(output().stderr).toMatch(/stopped leading \(stopped\)/);
  });

  it("runs the demo: three replicas, a crash failover and a graceful one, exit 0", async () => {
    const { exited, output } = run(["demo", "--ttl=1s"]);
    expect(await exited).toBe(0);
    const { stdout } = output();
    expect(stdout).toMatch(/demo: replica-\d leads with fencing token 0/);
    expect(stdout).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/ -> \{"name":"replica-\d"\}/);
    expect(stdout).toMatch(/took over after [\d.]+ (s|ms) with fencing token 1/);
    expect(stdout).toMatch(/took over after [\d.]+ (s|ms) with fencing token 2/);
    expect(stdout).toMatch(/demo: done: crash failover/);
  }, 30_000);
});
