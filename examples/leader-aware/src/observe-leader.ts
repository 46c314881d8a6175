/**
 * A router that must send work to the leader but never campaigns: it follows the election with
 * `observe()`, and forwards only while the answer it holds is still valid on its own clock.
 *
 *   node --experimental-strip-types examples/leader-aware/src/observe-leader.ts
 */
import type { LeaderObservation, LockStore } from "@tenure/core";
import { Elector, observe, systemClock } from "@tenure/core";
import { MemoryServer } from "@tenure/memory";

/** Follows `name` on `store` and keeps the latest answer; `target()` says where to route now. */
export function followLeader(store: LockStore, name: string, signal: AbortSignal) {
  let latest: LeaderObservation | undefined;
  const seen: LeaderObservation[] = [];
  const done = (async () => {
    for await (const item of observe(store, name, { signal })) {
      if (item.type === "error") {
        console.warn(`observer: ${item.error.code}: ${item.error.message}`);
        continue;
      }
      latest = item;
      seen.push(item);
      console.log(`observer: ${item.leader ?? "no leader"} (${item.reason}, token ${item.token ?? "-"})`);
    }
  })();
  return {
    seen,
    done,
    /** The leader to route to now, or null: never an answer whose validity has run out. */
    target(): { leader: string; fencingToken: number } | null {
      if (latest?.leader == null || latest.validUntilMs === null || latest.token === null) return null;
      return systemClock.now() < latest.validUntilMs
        ? { leader: latest.leader, fencingToken: latest.token }
        : null;
    },
  };
}

/** A short demonstration on the in-process store: a leader, a release, a successor. */
export async function main(): Promise<LeaderObservation[]> {
  const server = new MemoryServer();
  const timing = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 };
  const abort = new AbortController();
  const router = followLeader(server.connect(), "orders", abort.signal);
  const first = new Elector({
    store: server.connect(),
    name: "orders",
    identity: "worker-1",
    ...timing,
  }).start();
  await first.whenLeading();
  await new Promise((resolve) => setTimeout(resolve, 1_500)); // a few renewals: the router vouches
  console.log("router targets", router.target());
  await first.stop(); // releases: the router says "no leader" at once
  const second = new Elector({
    store: server.connect(),
    name: "orders",
    identity: "worker-2",
    ...timing,
  }).start();
  await second.whenLeading();
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  console.log("router targets", router.target());
  await second.stop();
  abort.abort();
  await router.done;
  return router.seen;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
