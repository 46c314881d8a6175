// A Tenure leader hands over to a client-go candidate on one Lease, on the real kube-apiserver of
// the harness. client-go has no handover, but it treats a Lease naming its identity as its own: the
// named client-go candidate renews the offer and leads, while the others (client-go and Tenure)
// wait it out as any held lease. Checked on CLOCK_MONOTONIC: the Tenure leader reported stopping
// before client-go reported starting, and nobody else started.
import { CoordinationV1Api, CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { Elector } from "@tenure/core";
import { LeaseLock } from "@tenure/kubernetes";
import type {} from "@tenure/testing/global-setup";
import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { ClientGoCandidate, ensureClientGoElector } from "./support/client-go-elector.js";

const timing = { leaseDurationMs: 3000, renewDeadlineMs: 1800, retryPeriodMs: 300 };
const goTimingFlags = { leaseDuration: "3s", renewDeadline: "1800ms", retryPeriod: "300ms" } as const;
/** Generous real-time bound: it catches a takeover that never comes, not a slow one. */
const boundMs = 10_000;

interface Started {
  readonly who: string;
  readonly atNs: bigint;
}

describe("handover from Tenure to client-go on one Lease", () => {
  const server = inject("tenureServers").servers.kubernetes;
  let binary = "";
  let kubeConfig: KubeConfig;
  let namespace = "";
  const cleanup: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    if (server === undefined) throw new Error("the global setup provided no kube-apiserver");
    binary = (await ensureClientGoElector((message) => console.error(`[handover] ${message}`))).path;
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(server.kubeconfig);
    namespace = `tenure-handover-${process.pid.toString(36)}-${Date.now().toString(36)}`;
    await kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  }, 25 * 60_000);

  afterEach(async () => {
    await Promise.allSettled(cleanup.splice(0).map((run) => run()));
  });

  it("the named client-go candidate takes the term; no other candidate wins; no overlap", async () => {
    if (server === undefined) throw new Error("the global setup provided no kube-apiserver");
    const name = "handover";
    const starts: Started[] = [];
    let leaderStoppedNs: bigint | undefined;
    let goStarted: (() => void) | undefined;
    const goStartedPromise = new Promise<void>((resolve) => {
      goStarted = resolve;
    });
    const seen = new Map<string, string>();

    const tenure = (identity: string): Elector => {
      const elector = new Elector({
        store: new LeaseLock({ kubeConfig, namespace }),
        name,
        identity,
        ...timing,
      });
      elector.subscribe((event) => {
        if (event.type === "started-leading") starts.push({ who: identity, atNs: process.hrtime.bigint() });
        if (event.type === "stopped-leading" && event.reason === "handed-over")
          leaderStoppedNs = process.hrtime.bigint();
      });
      cleanup.push(() => elector.stop({ release: false }));
      return elector.start();
    };
    const clientGo = (identity: string): ClientGoCandidate => {
      const candidate = new ClientGoCandidate({
        binary,
        kubeconfig: server.kubeconfig,
        namespace,
        name,
        identity,
        ...goTimingFlags,
        onEvent: (event) => {
          if (event.event === "new-leader") seen.set(identity, event.identity);
          if (event.event === "started-leading") {
            starts.push({ who: identity, atNs: event.monotonicNs });
            if (identity === "go-successor") goStarted?.();
          }
        },
        onExit: () => {},
        onProtocolError: (error) => {
          throw error;
        },
      });
      cleanup.push(async () => {
        candidate.signal("SIGKILL");
        await candidate.exited;
      });
      return candidate;
    };

    const leader = tenure("ts-leader");
    await leader.whenLeading({ signal: AbortSignal.timeout(boundMs) });
    clientGo("go-successor");
    clientGo("go-other");
    const other = tenure("ts-other");
    // Every follower has seen the leader, so each is counting a lease from a sighting of it.
    const deadline = performance.now() + boundMs;
    while (
      (seen.get("go-successor") !== "ts-leader" ||
        seen.get("go-other") !== "ts-leader" ||
        other.leader() !== "ts-leader") &&
      performance.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, timing.retryPeriodMs));
    }
    expect([seen.get("go-successor"), seen.get("go-other"), other.leader()]).toEqual([
      "ts-leader",
      "ts-leader",
      "ts-leader",
    ]);
    const tokenBefore = leader.fencingToken() ?? -1;

    const result = await leader.handOver("go-successor");
    expect(result).toEqual({ successor: "go-successor", fencingToken: tokenBefore + 1 });
    await Promise.race([
      goStartedPromise,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error("go-successor never started leading")), boundMs),
      ),
    ]);
    // Two leases more: the others keep waiting while client-go renews.
    await new Promise((resolve) => setTimeout(resolve, 2 * timing.leaseDurationMs));

    expect(starts.map((start) => start.who)).toEqual(["ts-leader", "go-successor"]);
    const goStart = starts[1]?.atNs ?? 0n;
    expect(leaderStoppedNs).toBeDefined();
    expect((leaderStoppedNs ?? goStart) < goStart).toBe(true);
    // What client-go made of the offer: renewed in place, token and empty acquireTime kept.
    const lease = await kubeConfig.makeApiClient(CoordinationV1Api).readNamespacedLease({ name, namespace });
    expect(lease.spec?.holderIdentity).toBe("go-successor");
    expect(lease.spec?.leaseTransitions).toBe(result.fencingToken);
    expect(lease.spec?.acquireTime ?? null).toBeNull();
    expect(other.leader()).toBe("go-successor");
  });
});
