/**
 * The scale run's process: many elections at once, one candidate each (two with `followers`: the
 * second follows), over one store (one connection), in this one process. Config from FAILOVER_BENCH_SCALE (JSON). Reports JSON lines:
 * {"event":"progress",…} every second and one {"event":"result",…} at the end. Bounded: it ends
 * after rampLimitMs + durationMs + 30 s whatever happens.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { openStore } from "@tenure/backends";
import type { LockStore } from "@tenure/core";
import { Elector } from "@tenure/core";
import { SCALE_ENV, type ScaleConfig } from "./types.js";

/** Bytes as MB, to 0.1. */
function mb(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}

function emit(fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...fields, monotonicNs: process.hrtime.bigint().toString() })}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const raw = process.env[SCALE_ENV];
  if (raw === undefined) throw new Error(`${SCALE_ENV} is not set`);
  const config = JSON.parse(raw) as ScaleConfig;
  setTimeout(
    () => {
      emit({ event: "exiting", code: 3, reason: "time limit" });
      process.exit(3);
    },
    config.rampLimitMs + config.durationMs + 30_000,
  ).unref();
  const opened = await openStore(config.store);
  const storeCalls: Record<string, number> = { get: 0, create: 0, update: 0, watch: 0 };
  let measuring = false;
  const store = countingCalls(opened, (operation) => {
    if (measuring) storeCalls[operation] = (storeCalls[operation] ?? 0) + 1;
  });
  /** Per election with a leader, how many of its electors believe they lead (1 when all is well). */
  const leaders = new Map<number, number>();
  let leadingElectors = 0;
  let renewals = 0;
  let storeErrors = 0;
  let spuriousLosses = 0;
  const electors: Elector[] = [];
  const startedAt = performance.now();
  const roles = config.followers === true ? ["candidate", "follower"] : ["candidate"];
  for (let index = 0; index < config.elections; index++) {
    for (const role of roles) {
      const elector = new Elector({
        store,
        name: `${config.prefix}-${index}`,
        identity: `scale-${process.pid}-${index}${role === "candidate" ? "" : `-${role}`}`,
        ...config.timing,
      });
      elector.subscribe((event) => {
        if (event.type === "started-leading") {
          leadingElectors += 1;
          leaders.set(index, (leaders.get(index) ?? 0) + 1);
        } else if (event.type === "stopped-leading") {
          leadingElectors -= 1;
          const count = (leaders.get(index) ?? 1) - 1;
          if (count > 0) leaders.set(index, count);
          else leaders.delete(index);
          if (event.reason !== "stopped") spuriousLosses += 1;
        } else if (event.type === "renewed" && measuring) renewals += 1;
        else if (event.type === "store-error") storeErrors += 1;
      });
      electors.push(elector);
      elector.start();
    }
    // Spread the first writes a little, as real processes do not start in the same millisecond.
    if (index % 100 === 99) await sleep(10);
  }
  for (
    let tick = 0;
    leaders.size < config.elections && performance.now() - startedAt < config.rampLimitMs;
    tick++
  ) {
    await sleep(100);
    if (tick % 10 === 0) emit({ event: "progress", phase: "ramp", leading: leaders.size });
  }
  const rampMs = performance.now() - startedAt;
  const leadingAtStart = leaders.size;
  const lossesBefore = spuriousLosses;
  const errorsBefore = storeErrors;
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const cpuBefore = process.cpuUsage();
  const measureStart = performance.now();
  let rssMax = 0;
  /** What the process's memory was made of when its RSS peaked. */
  let atRssMax: NodeJS.MemoryUsage | undefined;
  const sampleMemory = (): void => {
    const usage = process.memoryUsage();
    if (usage.rss <= rssMax) return;
    rssMax = usage.rss;
    atRssMax = usage;
  };
  sampleMemory();
  measuring = true;
  emit({ event: "measuring", durationMs: config.durationMs });
  for (let second = 0; performance.now() - measureStart < config.durationMs && second < 100_000; second++) {
    await sleep(Math.min(1000, Math.max(1, config.durationMs - (performance.now() - measureStart))));
    sampleMemory();
    emit({
      event: "progress",
      phase: "measure",
      elapsedMs: Math.round(performance.now() - measureStart),
      leading: leaders.size,
      spuriousLosses: spuriousLosses - lossesBefore,
    });
  }
  measuring = false;
  const socketsAtEnd = openTcpSockets();
  const followingAtEnd = electors.length - leadingElectors;
  const elapsedMs = performance.now() - measureStart;
  const cpu = process.cpuUsage(cpuBefore);
  histogram.disable();
  const result = {
    event: "result",
    elections: config.elections,
    durationMs: Math.round(elapsedMs),
    leading: leadingAtStart,
    rampMs: Math.round(rampMs),
    renewals,
    storeErrors: storeErrors - errorsBefore,
    spuriousLosses: spuriousLosses - lossesBefore,
    cpuCoreShare: Math.round(((cpu.user + cpu.system) / 1000 / elapsedMs) * 1000) / 1000,
    rssMaxMb: mb(rssMax),
    memoryAtRssMax:
      atRssMax === undefined
        ? null
        : {
            heapTotalMb: mb(atRssMax.heapTotal),
            heapUsedMb: mb(atRssMax.heapUsed),
            externalMb: mb(atRssMax.external),
            arrayBuffersMb: mb(atRssMax.arrayBuffers),
          },
    heapUsedMb: Math.round((process.memoryUsage().heapUsed / 2 ** 20) * 10) / 10,
    eventLoopDelayP99Ms: Math.round((histogram.percentile(99) / 1e6) * 10) / 10,
    eventLoopDelayMaxMs: Math.round((histogram.max / 1e6) * 10) / 10,
    rampComplete: leadingAtStart === config.elections,
    following: followingAtEnd,
    socketsAtEnd,
    storeCalls,
    storeCallsPerElectionPerRetry:
      Math.round(
        (((storeCalls.get ?? 0) + (storeCalls.create ?? 0) + (storeCalls.update ?? 0)) /
          config.elections /
          (elapsedMs / config.timing.retryPeriodMs)) *
          1000,
      ) / 1000,
  };
  emit(result);
  await Promise.race([
    Promise.all(electors.map((elector) => elector.stop({ release: true }))),
    sleep(15_000),
  ]);
  await Promise.race([opened.close(), sleep(5000)]);
  process.exit(0);
}

/**
 * The TCP sockets this process holds open: its file descriptors that are sockets listed in
 * /proc/self/net/tcp{,6}. Null where /proc is not there (not Linux).
 */
function openTcpSockets(): number | null {
  try {
    const tcp = new Set<string>();
    for (const table of ["/proc/self/net/tcp", "/proc/self/net/tcp6"]) {
      for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
        const inode = line.trim().split(/\s+/)[9];
        if (inode !== undefined && inode !== "0") tcp.add(inode);
      }
    }
    let count = 0;
    for (const fd of readdirSync("/proc/self/fd")) {
      let target: string;
      try {
        target = readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode !== undefined && tcp.has(inode)) count += 1;
    }
    return count;
  } catch {
    return null;
  }
}

/** `store`, reporting each call to `count` by operation name. */
function countingCalls(store: LockStore, count: (operation: string) => void): LockStore {
  const watch = store.watch?.bind(store);
  return {
    backend: store.backend,
    capabilities: store.capabilities,
    get: (name, options) => {
      count("get");
      return store.get(name, options);
    },
    create: (name, record, options) => {
      count("create");
      return store.create(name, record, options);
    },
    update: (name, record, version, options) => {
      count("update");
      return store.update(name, record, version, options);
    },
    ...(watch === undefined
      ? {}
      : {
          watch: (name: string, signal: AbortSignal) => {
            count("watch");
            return watch(name, signal);
          },
        }),
    close: () => store.close(),
  };
}

main().catch((error: unknown) => {
  emit({ event: "exiting", code: 1, reason: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});
