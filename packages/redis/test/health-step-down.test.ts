import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { TcpFaultProxy } from "@tenure/conformance";
import type { Elector, HealthPolicyOptions } from "@tenure/core";
import { Elector as ElectorClass } from "@tenure/core";
import { LeadershipLog } from "@tenure/core/testing";
import { RedisLockStore } from "@tenure/redis";
import { afterEach, describe, expect, it } from "vitest";
import { nextEvent, timing } from "./electors.js";
import { addressOf, sharedRedis } from "./servers.js";

/**
 * Health-based step-down on a real server, with the fault campaign's TCP proxy: each candidate's
 * health check probes a dependency (here a Redis server, answered PING) through its own proxy, while
 * its election runs on a direct connection. Cutting one proxy makes that candidate unhealthy and
 * nothing else.
 */
const server = sharedRedis();
const keyPrefix = `health-${randomBytes(4).toString("hex")}`;
const stores: RedisLockStore[] = [];
const proxies: TcpFaultProxy[] = [];
const electors: Elector[] = [];

afterEach(async () => {
  await Promise.allSettled(electors.splice(0).map((elector) => elector.stop({ release: false })));
  await Promise.allSettled(stores.splice(0).map((store) => store.close()));
  await Promise.allSettled(proxies.splice(0).map((proxy) => proxy.close()));
});

/** PINGs the dependency through `proxy` on a fresh connection; true only on `+PONG`. */
function pingThrough(proxy: TcpFaultProxy, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: proxy.host, port: proxy.port });
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    signal.addEventListener("abort", () => fail(new Error("health probe aborted")), { once: true });
    socket.once("error", fail);
    socket.once("close", () => reject(new Error("the dependency closed the connection")));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (data) => {
      socket.end();
      resolve(data.toString().startsWith("+PONG"));
    });
  });
}

/** Health options used by the test: a check every 100 ms, three failures to step down. */
const HEALTH = { intervalMs: 100, timeoutMs: 80, failureThreshold: 3 } as const;

async function candidate(
  name: string,
  identity: string,
  withHealth: boolean,
): Promise<{ elector: Elector; dependency: TcpFaultProxy }> {
  const dependency = await TcpFaultProxy.start(addressOf(server.url));
  proxies.push(dependency);
  const store = new RedisLockStore({ url: server.url, keyPrefix, requestTimeoutMs: 1000 });
  stores.push(store);
  const health: HealthPolicyOptions = { check: (signal) => pingThrough(dependency, signal), ...HEALTH };
  const elector = new ElectorClass({ store, name, identity, ...timing, ...(withHealth ? { health } : {}) });
  electors.push(elector);
  return { elector, dependency };
}

/**
 * Two candidates; the leader's dependency is cut. Resolves when the other candidate took over, with
 * how long it took; rejects (naming what it waited for) when it does not within the bound.
 */
async function cutTheLeadersDependency(
  withHealth: boolean,
  log: LeadershipLog,
): Promise<{ takeoverMs: number; stepDownReason: string }> {
  const name = `health-${randomBytes(4).toString("hex")}`;
  const a = await candidate(name, "candidate-a", withHealth);
  log.attach(a.elector);
  const leading = nextEvent(a.elector, "started-leading", 10_000);
  a.elector.start();
  await leading;
  const b = await candidate(name, "candidate-b", withHealth);
  log.attach(b.elector);
  b.elector.start();
  // b is up, healthy, and following a.
  await nextEvent(b.elector, "leader-changed", 10_000, (event) => event.leader === "candidate-a");

  const takeover = nextEvent(b.elector, "started-leading", 3_000);
  const stepDown = nextEvent(a.elector, "stopped-leading", 3_000);
  const cutAt = performance.now();
  a.dependency.cut("reset");
  await takeover;
  const takeoverMs = performance.now() - cutAt;
  const { reason } = await stepDown;
  return { takeoverMs, stepDownReason: reason };
}

describe("redis: health-based step-down with a cut dependency", () => {
  it("the leader whose dependency is cut releases, and the healthy candidate takes over without overlap", async () => {
    const log = new LeadershipLog();
    const { takeoverMs, stepDownReason } = await cutTheLeadersDependency(true, log);
    console.info(`redis: dependency cut → healthy candidate leading in ${takeoverMs.toFixed(1)} ms`);
    expect(stepDownReason).toBe("unhealthy");
    // Three failed checks 100 ms apart, then a release the follower sees through its watch.
    expect(takeoverMs).toBeLessThan(3 * HEALTH.intervalMs + 1_000);
    log.assertSafe();
    const [first, second] = log.intervals();
    expect(first?.candidate).toBe("candidate-a");
    expect(second?.candidate).toBe("candidate-b");
  }, 30_000);

  it("negative control: without the health option the same cut changes nothing, and the check above fails", async () => {
    const log = new LeadershipLog();
    await expect(cutTheLeadersDependency(false, log)).rejects.toThrow(
      /candidate-b: no started-leading event/,
    );
    const a = electors[0];
    expect(a?.isLeader()).toBe(true);
    log.assertSafe();
  }, 30_000);
});
