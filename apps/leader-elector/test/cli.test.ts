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
    const answer = (await (await fetch(`http://127.0.0.1:${port}/`)).json()) as { name: string };
    expect(answer.name).toBe("pod-a");
    const signalledAt = performance.now();
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(performance.now() - signalledAt).toBeLessThan(2_000);
    expect(output().stderr).toMatch(/SIGTERM: releasing the lock and exiting/);
    expect(output().stderr).toMatch(/stopped leading \(stopped\)/);
  });

  it("accepts the 2016 sidecar's exact command line, saying once that --use-cluster-credentials changes nothing", async () => {
    const { child, exited, output } = run([
      "--election=example",
      "--election-namespace=default",
      "--id=pod-a",
      "--ttl=10s",
      "--http=127.0.0.1:0",
      "--use-cluster-credentials",
    ]);
    while (!/pod-a is the leader/.test(output().stderr)) await once(child.stderr, "data");
    const notices = output().stderr.match(/--use-cluster-credentials is accepted .* and changes nothing/g);
    expect(notices).toHaveLength(1);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });

  it("supervise mode: stops the child on SIGTERM, then releases, and exits with the child's status", async () => {
    const childScript = fileURLToPath(new URL("./fixtures/supervised-child.mjs", import.meta.url));
    const { child, exited, output } = run([
      "--election=example",
      "--id=pod-a",
      "--ttl=2s",
      "--",
      "node",
      childScript,
      "5",
    ]);
    while (!/"child":"start"/.test(output().stdout)) await once(child.stdout, "data");
    child.kill("SIGTERM");
    expect(await exited).toBe(5);
    const { stdout, stderr } = output();
    expect(
      stdout
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line).child),
    ).toEqual(["start", "term", "exit"]);
    // The child was gone before the lock was released.
    expect(stderr.indexOf("exited with code 5")).toBeLessThan(stderr.indexOf("stopped leading (stopped)"));
  });

  it("runs the demo: three replicas, a crash failover and a graceful one, exit 0", async () => {
    const { exited, output } = run(["demo", "--ttl=1s"]);
    expect(await exited).toBe(0);
    const { stdout } = output();
    const tokens = [...stdout.matchAll(/with fencing token (\d+)/g)].map((match) => Number(match[1]));
    expect(stdout).toMatch(/demo: replica-\d leads with fencing token \d+/);
    expect(stdout).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/ -> \{"name":"replica-\d"/);
    expect(stdout).toMatch(/took over after [\d.]+ (s|ms) with fencing token \d+/);
    // Three terms, each with a higher token.
    expect(tokens).toHaveLength(3);
    expect(tokens[1]).toBeGreaterThan(tokens[0] ?? Number.POSITIVE_INFINITY);
    expect(tokens[2]).toBeGreaterThan(tokens[1] ?? Number.POSITIVE_INFINITY);
    expect(stdout).toMatch(/demo: done: crash failover/);
  }, 30_000);
});
