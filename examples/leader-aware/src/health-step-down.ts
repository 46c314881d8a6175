/**
 * A worker that must not lead while its database is down: the Elector's `health` option runs a
 * probe, steps down after three failures in a row (releasing the lock, so a healthy replica takes
 * over at once), and keeps out of the campaign until the probe passes again.
 *
 *   node --experimental-strip-types examples/leader-aware/src/health-step-down.ts
 */
import type { ElectorEvent, LockStore } from "@tenure/core";
import { Elector } from "@tenure/core";
import { MemoryServer } from "@tenure/memory";

/** Stands in for a real dependency: a probe that can be made to fail. */
export class Dependency {
  up = true;
  /** A health check: resolve true when reachable; throwing or timing out counts as a failure too. */
  async probe(_signal: AbortSignal): Promise<boolean> {
    return this.up;
  }
}

export function worker(store: LockStore, identity: string, dependency: Dependency): Elector {
  return new Elector({
    store,
    name: "billing",
    identity,
    leaseDurationMs: 3_000,
    renewDeadlineMs: 2_000,
    retryPeriodMs: 500,
    health: {
      check: (signal) => dependency.probe(signal),
      intervalMs: 200,
      timeoutMs: 150,
      failureThreshold: 3,
      successThreshold: 2,
      onUnhealthy: "release",
    },
    onStartedLeading: ({ fencingToken }) => console.log(`${identity}: leading (token ${fencingToken})`),
    onStoppedLeading: ({ reason }) => console.log(`${identity}: stopped leading (${reason})`),
  });
}

/** Two workers; the leader's dependency fails; the other takes over. Returns who led, in order. */
export async function main(): Promise<string[]> {
  const server = new MemoryServer();
  const database = new Dependency();
  const first = worker(server.connect(), "worker-1", database);
  const second = worker(server.connect(), "worker-2", new Dependency());
  const leaders: string[] = [];
  for (const elector of [first, second]) {
    elector.subscribe((event: ElectorEvent) => {
      if (event.type === "started-leading") leaders.push(elector.identity);
      if (event.type === "health-changed") console.log(`${elector.identity}: healthy=${event.healthy}`);
    });
  }
  first.start();
  await first.whenLeading();
  second.start();
  database.up = false; // the leader's database goes away
  await second.whenLeading();
  await Promise.all([first.stop(), second.stop()]);
  return leaders;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
