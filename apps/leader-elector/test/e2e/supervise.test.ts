/**
 * Supervise mode with real processes on every backend: `leader-elector [flags] -- node
 * supervised-child.mjs 3`, four replicas. The child prints when it starts (with its fencing token),
 * when SIGTERM reaches it, and as it exits, each stamped with CLOCK_MONOTONIC, so one clock orders
 * every child of every replica.
 *
 * 1. SIGKILL the leader's sidecar: its guard stops the child at once (SIGTERM), and the next child
 *    starts elsewhere only after the first one's last line, about a lease later, with a higher token.
 * 2. SIGTERM the next leader's sidecar: it stops its child first (SIGTERM; the child exits 3), then
 *    releases the lock and exits 3; the next child starts well before a lease has passed.
 * 3. The third child exits on its own (SIGUSR2: code 7): its sidecar releases the lock and exits 7;
 *    the fourth replica's child starts at once, with a higher token.
 */

import { fileURLToPath } from "node:url";
import type {} from "@tenure/testing/global-setup";
import { afterEach, describe, expect, inject, it } from "vitest";
import { type ChildLine, Replica } from "./replica.js";

const servers = inject("tenureServers").servers;
const CHILD = fileURLToPath(new URL("../fixtures/supervised-child.mjs", import.meta.url));
const TTL_MS = 2000;
/** Process start-up and a loaded two-core machine. */
const SLACK_MS = 3000;

interface Backend {
  readonly name: string;
  readonly args: readonly string[];
}

function backends(): Backend[] {
  const { kubernetes, etcd, consul, redis } = servers;
  if (kubernetes === undefined || etcd === undefined || consul === undefined || redis === undefined) {
    throw new Error("the harness did not start kubernetes, etcd, consul and redis");
  }
  return [
    {
      name: "kubernetes (lease)",
      args: ["--backend=kubernetes", "--lock=lease", `--kubeconfig=${kubernetes.kubeconfig}`],
    },
    { name: "etcd", args: ["--backend=etcd", `--etcd-endpoints=${etcd.endpoints.join(",")}`] },
    { name: "consul", args: ["--backend=consul", `--consul-addr=${consul.address}`] },
    { name: "redis", args: ["--backend=redis", `--redis-url=${redis.url}`] },
  ];
}

const running: Replica[] = [];
afterEach(async () => {
  for (const replica of running.splice(0)) replica.kill("SIGKILL");
});

/** The first child line matching `predicate` among every replica's, waiting for it. */
async function anyChild(
  replicas: readonly Replica[],
  predicate: (line: ChildLine) => boolean,
  timeoutMs: number,
): Promise<{ replica: Replica; line: ChildLine }> {
  try {
    return await Promise.any(
      replicas.map(async (replica) => ({ replica, line: await replica.waitForChild(predicate, timeoutMs) })),
    );
  } catch (error) {
    throw new Error(`no child line as awaited within ${timeoutMs} ms`, { cause: error });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The last line the child `pid` printed (its exit line, once it has exited). */
function lastLineOf(replica: Replica, pid: number): ChildLine {
  const last = replica
    .childLines()
    .filter((line) => line.pid === pid)
    .at(-1);
  if (last === undefined) throw new Error(`no lines of child ${pid}`);
  return last;
}

describe.each(backends())("supervise mode on $name", (backend) => {
  it("stops each child before the next starts, with rising tokens, and passes exit statuses on", async () => {
    const election = `supervise-${Date.now().toString(36)}`;
    const args = [`--election=${election}`, `--ttl=${TTL_MS}ms`, ...backend.args, "--", "node", CHILD, "3"];
    const replicas = await Promise.all(["a", "b", "c", "d"].map((id) => Replica.start(id, args)));
    running.push(...replicas);
    let live = [...replicas];
    const nextStart = (after: ChildLine | undefined, timeoutMs: number) =>
      anyChild(live, (line) => line.child === "start" && line.token > (after?.token ?? -1), timeoutMs);

    // The first leader's child starts with the term's token and deadline in its environment.
    const first = await nextStart(undefined, TTL_MS * 3 + SLACK_MS);
    expect(first.line.id).toBe(first.replica.id);
    expect(first.line.election).toBe(election);
    expect(first.line.remainingMs).toBeGreaterThan(0);
    expect(first.line.remainingMs).toBeLessThanOrEqual(TTL_MS / 2);
    expect(Number.isNaN(Date.parse(first.line.deadline ?? ""))).toBe(false);

    // 1. The leader's sidecar is killed: its guard terminates the child at once; the next child
    //    starts elsewhere about a lease later, after the first one's last line.
    const killedAt = process.hrtime.bigint();
    first.replica.kill("SIGKILL");
    live = live.filter((replica) => replica !== first.replica);
    const firstExit = await first.replica.waitForChild(
      (line) => line.pid === first.line.pid && line.child === "exit",
      SLACK_MS,
    );
    expect(Number(firstExit.ns - killedAt) / 1e6).toBeLessThan(1000);
    const second = await nextStart(first.line, TTL_MS + TTL_MS / 4 + SLACK_MS);
    expect(second.line.ns).toBeGreaterThan(lastLineOf(first.replica, first.line.pid).ns);

    // 2. The next leader's sidecar is stopped: child first (it exits 3), then the release, exit 3.
    const stoppedAt = process.hrtime.bigint();
    second.replica.kill("SIGTERM");
    live = live.filter((replica) => replica !== second.replica);
    expect(await second.replica.exited).toBe(3);
    const secondTerm = lastLineOf(second.replica, second.line.pid);
    expect(secondTerm).toMatchObject({ child: "exit", status: 3 });
    const third = await nextStart(second.line, SLACK_MS);
    expect(third.line.ns).toBeGreaterThan(secondTerm.ns);
    // Through the release, not after a lease's wait.
    expect(Number(third.line.ns - stoppedAt) / 1e6).toBeLessThan(TTL_MS);

    // 3. The third child exits on its own: its sidecar releases the lock and exits with status 7.
    process.kill(third.line.pid, "SIGUSR2");
    live = live.filter((replica) => replica !== third.replica);
    expect(await third.replica.exited).toBe(7);
    const thirdExit = lastLineOf(third.replica, third.line.pid);
    expect(thirdExit).toMatchObject({ child: "exit", status: 7 });
    const fourth = await nextStart(third.line, SLACK_MS);
    expect(fourth.line.ns).toBeGreaterThan(thirdExit.ns);
    expect(Number(fourth.line.ns - thirdExit.ns) / 1e6).toBeLessThan(TTL_MS);

    fourth.replica.kill("SIGTERM");
    expect(await fourth.replica.exited).toBe(3);
    // No child outlived its sidecar, the one killed outright included.
    const pids = new Set(replicas.flatMap((replica) => replica.childLines().map((line) => line.pid)));
    expect(pids.size).toBe(4);
    for (const pid of pids) expect(alive(pid), `child ${pid}`).toBe(false);
  }, 60_000);
});
