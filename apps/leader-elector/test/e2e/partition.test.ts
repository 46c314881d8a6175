/**
 * What a program behind a sidecar is told when its replica is cut off from the store. Three
 * `leader-elector` processes on Redis, each through its own Toxiproxy proxy; the leader's link is
 * blackholed (its two peers keep theirs). Every replica is asked `GET /` all along, as the programs
 * behind them would; each answer "you lead" (its own name) is good, by its own word, from when the
 * request was sent until `validForMs` later. No two replicas may ever be told they lead at once.
 */

import { ToxiproxyClient, type ToxiproxyProxy } from "@tenure/testing";
import type {} from "@tenure/testing/global-setup";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { agreedLeader, Replica } from "./replica.js";

const servers = inject("tenureServers").servers;
const TTL_MS = 2000;
/** The sidecar derives the renew deadline from the ttl: half of it. */
const RENEW_DEADLINE_MS = TTL_MS / 2;
const SLACK_MS = 2000;

interface Claim {
  readonly replica: string;
  readonly sentAtMs: number;
  readonly validForMs: number;
}

const toxiproxy = new ToxiproxyClient(servers.toxiproxy?.url ?? "");
const proxies: ToxiproxyProxy[] = [];
const running: Replica[] = [];

beforeAll(() => {
  if (servers.redis === undefined || servers.toxiproxy === undefined) {
    throw new Error("the harness did not start redis and toxiproxy");
  }
});
afterEach(async () => {
  for (const replica of running.splice(0)) replica.kill("SIGKILL");
});
afterAll(async () => {
  await Promise.allSettled(proxies.map((proxy) => proxy.delete()));
});

describe("sidecar answers when the leader is cut off from the store", () => {
  it("tells at most one program at any moment that it leads, and the cut-off one stops within its renew deadline", async () => {
    const redis = new URL(servers.redis?.url ?? "");
    const election = `partition-${Date.now().toString(36)}`;
    const replicas: Replica[] = [];
    const links = new Map<string, ToxiproxyProxy>();
    for (const id of ["replica-1", "replica-2", "replica-3"]) {
      const proxy = await toxiproxy.createProxy(`${election}-${id}`, `${redis.hostname}:${redis.port}`);
      proxies.push(proxy);
      links.set(id, proxy);
      const args = [`--election=${election}`, `--ttl=${TTL_MS}ms`, "--backend=redis"];
      replicas.push(await Replica.start(id, [...args, `--redis-url=redis://${proxy.listen}`]));
    }
    running.push(...replicas);
    const first = await agreedLeader(replicas, TTL_MS * 3 + SLACK_MS);

    // Ask every replica, all along, as the programs behind them would.
    const claims: Claim[] = [];
    let asking = true;
    const askAll = (async () => {
      while (asking) {
        await Promise.all(
          replicas.map(async (replica) => {
            const sentAtMs = performance.now();
            const answer = await replica.answer();
            if (answer.name === replica.id) {
              claims.push({ replica: replica.id, sentAtMs, validForMs: answer.validForMs ?? Infinity });
            }
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    const cutAt = performance.now();
    await links.get(first)?.blackhole();
    const survivors = replicas.filter((replica) => replica.id !== first);
    const second = await agreedLeader(survivors, TTL_MS + RENEW_DEADLINE_MS + SLACK_MS, first);
    // Keep asking as in the reported case: five seconds after the cut.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, cutAt + 5000 - performance.now())));
    asking = false;
    await askAll;

    const cutOff = replicas.find((replica) => replica.id === first);
    expect((await cutOff?.answer())?.name).toBe("");
    // The cut-off replica's last "you lead" ends within a renew deadline of the cut (plus a request).
    const lastOwnClaim = claims
      .filter((claim) => claim.replica === first)
      .reduce((latest, claim) => Math.max(latest, claim.sentAtMs + claim.validForMs), 0);
    expect(lastOwnClaim - cutAt).toBeLessThanOrEqual(RENEW_DEADLINE_MS);
    expect(claims.some((claim) => claim.replica === second)).toBe(true);

    // No two replicas told "you lead" for overlapping windows.
    const windows = claims
      .map((claim) => ({ ...claim, untilMs: claim.sentAtMs + claim.validForMs }))
      .sort((a, b) => a.sentAtMs - b.sentAtMs);
    for (const [index, window] of windows.entries()) {
      for (const later of windows.slice(index + 1)) {
        if (later.sentAtMs >= window.untilMs) break;
        expect(later.replica, `${window.replica} and ${later.replica} both told they lead`).toBe(
          window.replica,
        );
      }
    }
  }, 60_000);
});
