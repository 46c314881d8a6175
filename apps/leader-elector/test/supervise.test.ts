/**
 * Supervise mode in one process, on the memory store, with real child processes
 * (test/fixtures/supervised-child.mjs) and their real guards: the environment a child gets, the
 * order of a shutdown, a child that exits on its own, and the kill rule measured when the leader is
 * cut off from the store while its child ignores SIGTERM.
 */
import { mkdtempSync, readFileSync, watch } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ElectorEvent, silentLogger } from "@tenure/core";
import { MemoryServer } from "@tenure/memory";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseFlags } from "../src/flags.js";
import type { Sidecar } from "../src/sidecar.js";
import { startSidecar } from "../src/sidecar.js";
import { type SupervisorEvent, toMonotonicNs } from "../src/supervisor.js";

const CHILD = fileURLToPath(new URL("./fixtures/supervised-child.mjs", import.meta.url));

interface ChildLine {
  readonly child: "start" | "term" | "exit";
  readonly token: number;
  readonly pid: number;
  readonly ns: bigint;
  readonly remainingMs?: number;
  readonly deadline?: string;
  readonly status?: number;
}

let logFile = "";
const running: Sidecar[] = [];
beforeEach(() => {
  logFile = join(mkdtempSync(join(tmpdir(), "supervise-")), "children.log");
  process.env.SUPERVISED_CHILD_LOG = logFile;
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((sidecar) => sidecar.shutdown({ release: false })));
  delete process.env.SUPERVISED_CHILD_LOG;
});

function childLines(): ChildLine[] {
  let text = "";
  try {
    text = readFileSync(logFile, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const parsed = JSON.parse(line) as Omit<ChildLine, "ns"> & { ns: string };
      return { ...parsed, ns: BigInt(parsed.ns) };
    });
}

/** Waits for the first line the children wrote that matches `predicate` (the file is watched). */
async function childLine(predicate: (line: ChildLine) => boolean, timeoutMs = 5_000): Promise<ChildLine> {
  const watcher = watch(dirname(logFile));
  try {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = childLines().find(predicate);
      if (found !== undefined) return found;
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw new Error(`no such child line within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        watcher.once("change", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  } finally {
    watcher.close();
  }
}

async function supervised(
  server: MemoryServer,
  id: string,
  onTerm: string,
  store = server.connect(),
): Promise<Sidecar> {
  const flags = parseFlags(["--election=example", `--id=${id}`, "--ttl=2s", "--", "node", CHILD, onTerm], {});
  const sidecar = await startSidecar(flags, { logger: silentLogger, store });
  running.push(sidecar);
  return sidecar;
}

/** The next supervisor event of `type`. */
function next<T extends SupervisorEvent["type"]>(
  sidecar: Sidecar,
  type: T,
): Promise<Extract<SupervisorEvent, { type: T }>> {
  return new Promise((resolve) => {
    const unsubscribe = sidecar.supervisor?.subscribe((event) => {
      if (event.type !== type) return;
      unsubscribe?.();
      resolve(event as Extract<SupervisorEvent, { type: T }>);
    });
  });
}

describe("supervise mode", () => {
  it("starts the child with the term's token and deadline, and on shutdown stops it before releasing", async () => {
    const server = new MemoryServer();
    const sidecar = await supervised(server, "pod-a", "3");
    const started = await next(sidecar, "child-started");
    expect(started.fencingToken).toBe(sidecar.elector.fencingToken());
    const start = await childLine((line) => line.child === "start");
    expect(start).toMatchObject({ child: "start", token: started.fencingToken, pid: started.pid });
    // Counted from the child's start: at most the renew deadline (1 s at ttl 2 s).
    expect(start?.remainingMs).toBeGreaterThan(0);
    expect(start?.remainingMs).toBeLessThanOrEqual(1000);
    const deadline = Date.parse(start?.deadline ?? "");
    expect(deadline).toBeGreaterThan(Date.now() - 1000);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 1000);

    const releasedWhileChildRan: boolean[] = [];
    sidecar.supervisor?.subscribe((event) => {
      if (event.type === "child-exited") {
        releasedWhileChildRan.push(JSON.parse(server.readRaw("example") ?? "{}").holderIdentity !== "pod-a");
      }
    });
    expect(await sidecar.shutdown({ release: true })).toBe(3);
    expect(releasedWhileChildRan).toEqual([false]);
    expect(childLines().map((line) => line.child)).toEqual(["start", "term", "exit"]);
    expect(JSON.parse(server.readRaw("example") ?? "{}").holderIdentity).toBe("");
  });

  it("releases the lock and finishes with the child's status when the child exits on its own", async () => {
    const server = new MemoryServer();
    const sidecar = await supervised(server, "pod-a", "0");
    const started = await next(sidecar, "child-started");
    // Its handlers are in place once it has written its first line.
    await childLine((line) => line.child === "start");
    process.kill(started.pid, "SIGUSR2");
    expect(await sidecar.finished).toBe(7);
    expect(sidecar.elector.status().role).toBe("stopped");
    expect(JSON.parse(server.readRaw("example") ?? "{}").holderIdentity).toBe("");
  });

  it("finishes with 127 when the command cannot be started", async () => {
    const server = new MemoryServer();
    const flags = parseFlags(
      ["--election=example", "--id=pod-a", "--ttl=2s", "--", "/nonexistent/program"],
      {},
    );
    const sidecar = await startSidecar(flags, { logger: silentLogger, store: server.connect() });
    running.push(sidecar);
    expect(await sidecar.finished).toBe(127);
  });

  it("cut off from the store: SIGTERM at the term's deadline, SIGKILL a kill grace later, before anyone can take over", async () => {
    const server = new MemoryServer();
    const cutOff = server.connect({ requestTimeoutMs: 5_000 });
    const leader = await supervised(server, "pod-a", "ignore", cutOff);
    const started = await next(leader, "child-started");
    let lastSafeUntilMs = 0;
    leader.elector.subscribe((event: ElectorEvent) => {
      if (event.type === "started-leading" || event.type === "renewed") lastSafeUntilMs = event.safeUntilMs;
    });
    // A renewal has just landed: cut the leader off now.
    await new Promise<void>((resolve) => {
      const unsubscribe = leader.elector.subscribe((event) => {
        if (event.type === "renewed") {
          unsubscribe();
          resolve();
        }
      });
    });
    cutOff.disconnect("blackhole");
    const follower = await supervised(server, "pod-b", "0");
    const exited = await next(leader, "child-exited");
    const followerChild = await next(follower, "child-started");

    // Timings at ttl 2 s: renew deadline 1 s, kill grace (2 s − 1 s) / 2 = 500 ms. A follower cannot
    // take over before the last renewal's send time + ttl = the deadline + 1 s.
    const deadlineNs = toMonotonicNs(lastSafeUntilMs);
    const term = childLines().find((line) => line.child === "term" && line.pid === started.pid);
    if (term === undefined) throw new Error("the child never got SIGTERM");
    const ms = (ns: bigint): number => Number(ns) / 1e6;
    expect(ms(term.ns - deadlineNs)).toBeGreaterThanOrEqual(-5);
    expect(ms(term.ns - deadlineNs)).toBeLessThan(200);
    expect(exited).toMatchObject({ signal: "SIGKILL", onItsOwn: false });
    expect(ms(exited.atNs - deadlineNs)).toBeGreaterThanOrEqual(500 - 5);
    expect(ms(exited.atNs - deadlineNs)).toBeLessThan(500 + 200);
    expect(followerChild.atNs).toBeGreaterThan(exited.atNs);
    expect(ms(followerChild.atNs - deadlineNs)).toBeGreaterThanOrEqual(1000);
  }, 20_000);
});
