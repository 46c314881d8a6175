// How long a client-go leader keeps acting after the apiserver stops answering it, measured on the
// real kube-apiserver, and what that means for a Tenure follower on the same Lease.
//
// client-go's tools/leaderelection (v0.36.3, the interop peer) renews in rounds. A round starts
// with a context that expires renewDeadline (R) later and tries the write, again every retryPeriod
// (P), until one lands; a round that succeeds is followed by a pause of P; a round that fails ends
// the term. With ReleaseOnCancel it first tries to release the Lease, with a fresh timeout of R,
// and only then cancels the leadership context. So if the last write that landed (committed at C)
// belongs to a round that began at t ≤ C, its answer came before t + R, the next round began P
// later and failed R after that:
//
//   leadership ends ≤ t + R + P + R ≤ C + P + 2R        (+ R with ReleaseOnCancel on a blackhole)
//
// Tenure's rule (a leader acts until R after it sent its last successful write) does not hold for
// a client-go leader; the worst case is a slow last renewal, answered just before its round's
// deadline. Each test drives exactly that: the peer reaches the apiserver through a Toxiproxy proxy;
// once it renews at full speed, the apiserver's answers are delayed (the write lands at once, its
// answer arrives answerDelayMs later), and as soon as the peer reports that slow renewal succeeded
// the proxy drops every byte, both ways. The Lease's versions come from a watch on a direct
// connection; everything is compared on CLOCK_MONOTONIC. See docs/architecture.md, "Mixing Tenure
// and client-go candidates".
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { Elector } from "@tenure/core";
import { LeaseLock } from "@tenure/kubernetes";
import { defaultStateDir, startServers, stopServers, ToxiproxyClient } from "@tenure/testing";
import type {} from "@tenure/testing/global-setup";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { kubernetesServer, loadKubeConfig, viaServer } from "./kube-helpers.js";
import {
  ClientGoCandidate,
  type ClientGoEvent,
  type ClientGoWrite,
  ensureClientGoElector,
} from "./support/client-go-elector.js";
import { type LeaseVersion, LeaseWireLog } from "./support/lease-wire-log.js";

/** Timings of every candidate except the lease, which each test chooses. */
const renewDeadlineMs = 3000;
const retryPeriodMs = 1000;
/** How late the apiserver's answers arrive once slowed: just inside the renew deadline. */
const answerDelayMs = 2600;
/**
 * Late timers and goroutine scheduling on a loaded two-core machine. The bounds themselves are
 * exact: every wait in the derivation can only end late, never early.
 */
const slackMs = 250;
/** A Go timer never fires early; this covers the two clock readings around it. */
const earlyToleranceMs = 50;

/** Generous real-time bounds: they catch what never happens, not what is slow. */
const startBoundMs = 20_000;
const renewalBoundMs = 5000;

const nsToMs = (ns: bigint): number => Number(ns) / 1e6;

/** Something a test waits for: a line the peer printed, or an event of the Tenure follower. */
type Happening =
  | { readonly source: "client-go"; readonly event: ClientGoEvent }
  | {
      readonly source: "tenure";
      readonly type: "started-leading" | "stopped-leading" | "leader-changed" | "store-error";
      readonly atNs: bigint;
      /** For leader-changed: the holder it now sees ("" when none). */
      readonly leader?: string;
      readonly detail?: string;
    };

/** Happenings in arrival order; waits resolve on the first match and fail on anything unexpected. */
class Recorder {
  readonly happenings: Happening[] = [];
  readonly #waiters = new Set<{
    readonly predicate: (happening: Happening) => boolean;
    readonly resolve: (happening: Happening) => void;
    readonly reject: (error: Error) => void;
  }>();
  #failure: Error | undefined;

  add(happening: Happening): void {
    this.happenings.push(happening);
    for (const waiter of [...this.#waiters]) {
      if (!waiter.predicate(happening)) continue;
      this.#waiters.delete(waiter);
      waiter.resolve(happening);
    }
  }

  fail(error: Error): void {
    this.#failure ??= error;
    for (const waiter of this.#waiters) waiter.reject(error);
    this.#waiters.clear();
  }

  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Index of the next happening: wait only for what comes after it. */
  mark(): number {
    return this.happenings.length;
  }

  waitFor(
    description: string,
    predicate: (happening: Happening) => boolean,
    timeoutMs: number,
    from = 0,
  ): Promise<Happening> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const found = this.happenings.slice(from).find(predicate);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (happening: Happening) => {
          clearTimeout(timer);
          resolve(happening);
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        const recent = this.happenings.slice(-8).map((happening) => JSON.stringify(happening, bigints));
        reject(new Error(`no ${description} within ${timeoutMs} ms; last happenings:\n${recent.join("\n")}`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }
}

function bigints(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

function goEvent(happening: Happening): ClientGoEvent | undefined {
  return happening.source === "client-go" ? happening.event : undefined;
}

function asWrite(happening: Happening): ClientGoWrite {
  const event = goEvent(happening);
  if (event?.event !== "write") throw new Error(`not a write: ${JSON.stringify(happening, bigints)}`);
  return event;
}

/** What one cut-off measured, in ms on CLOCK_MONOTONIC. */
interface Measured {
  /** From the slow renewal's arrival on our watch (just after it committed) to stopped-leading. */
  readonly holdMs: number;
  /** From that arrival to the peer learning the renewal succeeded. */
  readonly answerLagMs: number;
  /** From the peer learning it to stopped-leading. */
  readonly afterAnswerMs: number;
  /** stopped-leading minus (send time of the slow renewal + R): how far past Tenure's deadline. */
  readonly beyondTenureDeadlineMs: number;
  /** Tenure follower's started-leading minus the peer's stopped-leading (negative: overlap). */
  readonly takeoverAfterStopMs: number;
}

describe("a client-go leader cut off from the apiserver", () => {
  const server = kubernetesServer();
  const toxiproxyStateDir = join(defaultStateDir, "test-runs", "kubernetes-client-go-cut-off");
  let toxiproxy: ToxiproxyClient;
  let startedToxiproxy = false;
  let binary = "";
  let kubeConfig: KubeConfig;
  let apiserver = "";
  let namespace = "";
  let scratch = "";
  const measured: string[] = [];

  beforeAll(async () => {
    const built = await ensureClientGoElector((message) => console.error(`[cut-off] ${message}`));
    binary = built.path;
    // Toxiproxy from the project's global setup when it lists it; otherwise this file starts one
    // through the harness (or takes TENURE_TOXIPROXY_ADDR), in a state folder of its own.
    let record = inject("tenureServers").servers.toxiproxy;
    if (record === undefined) {
      startedToxiproxy = true;
      const started = await startServers(["toxiproxy"], { stateDir: toxiproxyStateDir, fresh: true });
      record = started.servers.toxiproxy;
    }
    if (record === undefined) throw new Error("the harness started no Toxiproxy");
    toxiproxy = new ToxiproxyClient(record.url);
    kubeConfig = loadKubeConfig(server.kubeconfig);
    const cluster = kubeConfig.getCurrentCluster();
    if (cluster === null) throw new Error(`${server.kubeconfig} has no current cluster`);
    apiserver = new URL(cluster.server).host;
    namespace = `tenure-cut-off-${process.pid.toString(36)}-${Date.now().toString(36)}`;
    await kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
    scratch = mkdtempSync(join(tmpdir(), "tenure-cut-off-"));
  }, 25 * 60_000);

  afterAll(async () => {
    if (measured.length > 0) console.log(["[cut-off] measured:", ...measured].join("\n"));
    if (scratch !== "") rmSync(scratch, { recursive: true, force: true });
    if (startedToxiproxy) await stopServers({ stateDir: toxiproxyStateDir });
  });

  let elections = 0;

  /**
   * Runs one client-go leader through a proxy, with a Tenure follower (same timings) connected
   * directly; slows the apiserver's answers, then blackholes the peer right after its slow renewal
   * succeeded, and measures until the peer's leadership context ends and the follower takes over.
   */
  async function cutOff(settings: {
    readonly leaseSeconds: number;
    readonly releaseOnCancel: boolean;
  }): Promise<Measured> {
    const name = `cut-off-${elections++}`;
    const recorder = new Recorder();
    const link = await toxiproxy.createProxy(`${namespace}-${name}`, apiserver);
    const kubeconfigPath = join(scratch, `${name}.kubeconfig`);
    writeFileSync(kubeconfigPath, viaServer(kubeConfig, `https://${link.listen}`).exportConfig());
    const wire = await LeaseWireLog.start(kubeConfig, namespace, name, (error) => recorder.fail(error));
    let leaving = false;
    const leader = new ClientGoCandidate({
      binary,
      kubeconfig: kubeconfigPath,
      namespace,
      name,
      identity: "go-leader",
      leaseDuration: `${settings.leaseSeconds}s`,
      renewDeadline: `${renewDeadlineMs}ms`,
      retryPeriod: `${retryPeriodMs}ms`,
      releaseOnCancel: settings.releaseOnCancel,
      reportWrites: true,
      onEvent: (event) => recorder.add({ source: "client-go", event }),
      onExit: (exit) => {
        const announced = recorder.happenings.some((happening) => goEvent(happening)?.event === "exiting");
        if (!announced && !leaving)
          recorder.fail(
            new Error(`the client-go peer ended unexpectedly (${JSON.stringify(exit, bigints)})`),
          );
      },
      onProtocolError: (error) => recorder.fail(error),
    });
    const store = new LeaseLock({ kubeConfig, namespace });
    const follower = new Elector({
      store,
      name,
      identity: "ts-follower",
      leaseDurationMs: settings.leaseSeconds * 1000,
      renewDeadlineMs,
      retryPeriodMs,
    });
    follower.subscribe((event) => {
      const atNs = process.hrtime.bigint();
      switch (event.type) {
        case "started-leading":
          recorder.add({ source: "tenure", type: event.type, atNs });
          return;
        case "leader-changed":
          recorder.add({ source: "tenure", type: event.type, atNs, leader: event.leader ?? "" });
          return;
        case "stopped-leading":
        case "store-error": {
          const detail = JSON.stringify(event, bigints);
          recorder.add({ source: "tenure", type: event.type, atNs, detail });
          if (!leaving) recorder.fail(new Error(`the Tenure follower reported ${detail}`));
          return;
        }
      }
    });
    try {
      await recorder.waitFor(
        "started-leading from the client-go peer",
        (happening) => goEvent(happening)?.event === "started-leading",
        startBoundMs,
      );
      follower.start();
      await recorder.waitFor(
        "the Tenure follower seeing go-leader lead",
        (happening) =>
          happening.source === "tenure" &&
          happening.type === "leader-changed" &&
          happening.leader === "go-leader",
        startBoundMs,
      );
      const landed = (happening: Happening): boolean => {
        const event = goEvent(happening);
        return event?.event === "write" && event.call === "update" && event.ok;
      };
      // Two renewals at full speed, then slow the answers right after the second (the next round
      // starts retryPeriod later). Only apiserver → peer is delayed: the write still lands at once.
      await recorder.waitFor("a renewal", landed, renewalBoundMs, recorder.mark());
      await recorder.waitFor("a second renewal", landed, renewalBoundMs, recorder.mark());
      await link.slow(answerDelayMs, 0, ["downstream"]);
      const slow = asWrite(
        await recorder.waitFor(
          "the slowed renewal's outcome",
          (happening) => goEvent(happening)?.event === "write",
          retryPeriodMs + renewDeadlineMs + renewalBoundMs,
          recorder.mark(),
        ),
      );
      // At once, before the next round begins: every byte from now on is dropped (what the peer
      // sends first), on its open connection and on any new one; nothing is refused or closed.
      await link.blackhole();
      const cutNs = process.hrtime.bigint();
      expect(slow, "the slowed renewal succeeded").toMatchObject({ call: "update", ok: true });
      const slowCallMs = nsToMs(slow.monotonicNs - slow.sentNs);
      expect(slowCallMs, "the slowed renewal's answer came late").toBeGreaterThanOrEqual(answerDelayMs);
      expect(slowCallMs, "…and within the renew deadline").toBeLessThan(renewDeadlineMs);
      expect(nsToMs(cutNs - slow.monotonicNs), "blackholed before the next round").toBeLessThan(
        retryPeriodMs,
      );

      const stopped = await recorder.waitFor(
        "stopped-leading from the client-go peer",
        (happening) => goEvent(happening)?.event === "stopped-leading",
        retryPeriodMs + 3 * renewDeadlineMs + renewalBoundMs,
      );
      const stoppedNs = goEvent(stopped)?.monotonicNs ?? 0n;
      const exit = await leader.exited;
      expect(exit.code, `the peer's exit after losing the lease (log: ${leader.logFile})`).toBe(1);
      const takeover = await recorder.waitFor(
        "the Tenure follower taking over",
        (happening) => happening.source === "tenure" && happening.type === "started-leading",
        settings.leaseSeconds * 1000 + renewalBoundMs,
      );
      const takeoverNs = takeover.source === "tenure" ? takeover.atNs : 0n;

      // The slowed renewal is the last write of the peer that landed; our watch saw it commit.
      const held = wire.versions.filter((version) => version.spec.holderIdentity === "go-leader");
      const lastLanded: LeaseVersion | undefined = held.at(-1);
      expect(lastLanded?.spec.renewTime, "renewTime of the peer's last version on the wire").toBe(
        slow.renewTime,
      );
      const landedNs = lastLanded?.arrivedNs ?? 0n;
      if (recorder.failure !== undefined) throw recorder.failure;
      return {
        holdMs: nsToMs(stoppedNs - landedNs),
        answerLagMs: nsToMs(slow.monotonicNs - landedNs),
        afterAnswerMs: nsToMs(stoppedNs - slow.monotonicNs),
        beyondTenureDeadlineMs: nsToMs(stoppedNs - slow.sentNs) - renewDeadlineMs,
        takeoverAfterStopMs: nsToMs(takeoverNs - stoppedNs),
      };
    } finally {
      leaving = true;
      leader.signal("SIGKILL");
      await leader.exited;
      await follower.stop({ release: true }).finally(() => store.close());
      wire.stop();
      await link.delete();
    }
  }

  function describeRun(label: string, run: Measured, boundMs: number): string {
    return [
      `  ${label}: held ${run.holdMs.toFixed(0)} ms after its last renewal landed (bound ${boundMs} ms;`,
      `answer ${run.answerLagMs.toFixed(0)} ms after the commit, then ${run.afterAnswerMs.toFixed(0)} ms;`,
      `${run.beyondTenureDeadlineMs.toFixed(0)} ms past a Tenure leader's deadline);`,
      `Tenure follower took over ${run.takeoverAfterStopMs.toFixed(0)} ms after it stopped`,
    ].join(" ");
  }

  it("without ReleaseOnCancel it acts up to retryPeriod + 2 × renewDeadline after its last renewal landed, " +
    "so a Tenure follower with the same timings (lease 4 s) takes over while it still leads", async () => {
    const run = await cutOff({ leaseSeconds: 4, releaseOnCancel: false });
    const boundMs = retryPeriodMs + 2 * renewDeadlineMs;
    measured.push(describeRun("ReleaseOnCancel false, lease 4 s", run, boundMs));
    // Tenure's rule would have it stop renewDeadline after sending its last successful write.
    expect(run.holdMs).toBeGreaterThan(renewDeadlineMs);
    expect(run.beyondTenureDeadlineMs).toBeGreaterThan(0);
    // The derivation, step by step: a pause of P, then a round that fails R later.
    expect(run.afterAnswerMs).toBeGreaterThanOrEqual(retryPeriodMs + renewDeadlineMs - earlyToleranceMs);
    expect(run.afterAnswerMs).toBeLessThanOrEqual(retryPeriodMs + renewDeadlineMs + slackMs);
    expect(run.holdMs).toBeLessThanOrEqual(boundMs + slackMs);
    // The lease (4 s) is shorter than the hold: the two leaderships overlap.
    expect(run.takeoverAfterStopMs).toBeLessThan(0);
  }, 90_000);

  it("with ReleaseOnCancel the blackholed release adds another renewDeadline (retryPeriod + 3 × renewDeadline), " +
    "and a lease longer than that (11 s) keeps a Tenure follower out until it stopped", async () => {
    const run = await cutOff({ leaseSeconds: 11, releaseOnCancel: true });
    const boundMs = retryPeriodMs + 3 * renewDeadlineMs;
    measured.push(describeRun("ReleaseOnCancel true, lease 11 s", run, boundMs));
    expect(run.holdMs).toBeGreaterThan(retryPeriodMs + 2 * renewDeadlineMs);
    expect(run.beyondTenureDeadlineMs).toBeGreaterThan(0);
    expect(run.afterAnswerMs).toBeGreaterThanOrEqual(retryPeriodMs + 2 * renewDeadlineMs - earlyToleranceMs);
    expect(run.afterAnswerMs).toBeLessThanOrEqual(retryPeriodMs + 2 * renewDeadlineMs + slackMs);
    expect(run.holdMs).toBeLessThanOrEqual(boundMs + slackMs);
    expect(run.takeoverAfterStopMs).toBeGreaterThan(0);
  }, 90_000);
});
