import { createConsoleLogger } from "@tenure/core";
import { MemoryServer } from "@tenure/memory";
import { formatMs, parseDuration } from "./duration.js";
import type { SidecarFlags } from "./flags.js";
import type { Sidecar } from "./sidecar.js";
import { startSidecar } from "./sidecar.js";

const REPLICAS = 3;

/**
 * Three replicas on the embedded memory store, each serving its own HTTP port, as in the 2016
 * walkthrough: ask every replica who leads, kill the leader without releasing (a crash) and time the
 * failover, then stop the next leader gracefully (it releases) and time that. Exits 0 when both
 * failovers happened.
 */
export async function runDemo(argv: readonly string[]): Promise<number> {
  const ttlMs = parseDuration("--ttl", argv.find((arg) => arg.startsWith("--ttl="))?.slice(6) ?? "3s");
  const say = (line: string): void => {
    process.stdout.write(`demo: ${line}\n`);
  };
  const server = new MemoryServer();
  const replicas: Sidecar[] = [];
  for (let index = 1; index <= REPLICAS; index++) {
    const flags: SidecarFlags = {
      election: "example",
      electionNamespace: "default",
      id: `replica-${index}`,
      ttlMs,
      renewDeadlineMs: ttlMs / 2,
      retryPeriodMs: ttlMs / 4,
      http: { host: "127.0.0.1", port: 0 },
      backend: "memory",
      store: { kind: "memory" },
      logFormat: "text",
      logLevel: "info",
      useClusterCredentials: false,
      supervise: undefined,
    };
    const logger = createConsoleLogger({ stream: process.stdout, fields: { replica: flags.id } });
    replicas.push(await startSidecar(flags, { logger, store: server.connect() }));
  }
  say(
    `${REPLICAS} replicas campaign in election "example" (ttl ${formatMs(ttlMs)}, renew deadline ttl/2, retry ttl/4)`,
  );
  for (const replica of replicas) say(`  ${replica.elector.identity} serves ${replica.server?.url}/`);

  const live = (): Sidecar[] => replicas.filter((replica) => replica.elector.status().role !== "stopped");
  try {
    const first = await nextLeader(live(), ttlMs * 3);
    say(`${first.elector.identity} leads with fencing token ${first.elector.fencingToken()}`);
    await settle(ttlMs / 2);
    await askEveryone(live(), say);

    say(`killing ${first.elector.identity} without releasing the lock (as SIGKILL would)...`);
    const crashedAt = performance.now();
    await first.shutdown({ release: false });
    const second = await nextLeader(live(), ttlMs * 3);
    const crashFailoverMs = performance.now() - crashedAt;
    say(
      `${second.elector.identity} took over after ${formatMs(crashFailoverMs)} with fencing token ${second.elector.fencingToken()} (a crash costs up to one lease: ${formatMs(ttlMs)})`,
    );
    await settle(ttlMs / 2);
    await askEveryone(live(), say);

    say(`stopping ${second.elector.identity} gracefully (as SIGTERM does): it releases the lock...`);
    const releasedAt = performance.now();
    await second.shutdown({ release: true });
    const third = await nextLeader(live(), ttlMs * 3);
    const releaseFailoverMs = performance.now() - releasedAt;
    say(
      `${third.elector.identity} took over after ${formatMs(releaseFailoverMs)} with fencing token ${third.elector.fencingToken()} (a release is seen at once through watch)`,
    );
    await askEveryone(live(), say);
    say(
      `done: crash failover ${formatMs(crashFailoverMs)}, graceful failover ${formatMs(releaseFailoverMs)}`,
    );
    return 0;
  } catch (error) {
    say(`failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await Promise.all(replicas.map((replica) => replica.shutdown({ release: false })));
  }
}

/** Waits for one of `replicas` to start leading. */
function nextLeader(replicas: readonly Sidecar[], timeoutMs: number): Promise<Sidecar> {
  const current = replicas.find((replica) => replica.elector.isLeader());
  if (current !== undefined) return Promise.resolve(current);
  return new Promise((resolve, reject) => {
    const unsubscribes: (() => void)[] = [];
    const timer = setTimeout(() => {
      for (const unsubscribe of unsubscribes) unsubscribe();
      reject(new Error(`no leader within ${formatMs(timeoutMs)}`));
    }, timeoutMs);
    for (const replica of replicas) {
      unsubscribes.push(
        replica.elector.subscribe((event) => {
          if (event.type !== "started-leading") return;
          clearTimeout(timer);
          for (const unsubscribe of unsubscribes) unsubscribe();
          resolve(replica);
        }),
      );
    }
  });
}

/** Asks each replica's HTTP endpoint who leads, as `curl http://<replica>/` would. */
async function askEveryone(replicas: readonly Sidecar[], say: (line: string) => void): Promise<void> {
  for (const replica of replicas) {
    const url = `${replica.server?.url}/`;
    const body = await (await fetch(url)).text();
    say(`  GET ${url} -> ${body}`);
  }
}

function settle(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
