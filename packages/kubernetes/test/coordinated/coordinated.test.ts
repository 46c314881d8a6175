// Coordinated Leader Election (KEP-4355) against kube-apiserver's own coordinator: this project's
// apiserver runs with the CoordinatedLeaderElection gate and coordination.k8s.io/v1beta1 on
// (vitest.coordinated.config.ts). Tenure candidates (LeaseCandidate + Elector { coordinated: true })
// run beside client-go candidates (interop/client-go-elector --coordinated: leaderelection.NewCandidate
// and LeaderElectionConfig.Coordinated) on one Lease; the coordinator, not the candidates, picks the
// holder (strategy OldestEmulationVersion: lowest emulationVersion, then binaryVersion, then the
// oldest candidate).
//
// Checked: who the coordinator picked at each step and how long it took; that a Tenure leader asked
// to step down (spec.preferredHolder) releases at once and the preferred candidate gets the Lease;
// that a client-go leader asked the same lets its lease run out first (the contrast is measured);
// that no Tenure candidate ever took the Lease itself (every change of holder to a candidate is the
// coordinator's write: no acquireTime, leaseDurationSeconds 5); that leadership intervals never
// overlap on one monotonic clock; and that Tenure candidates answer the coordinator's pings.
import { CoordinationV1beta1Api } from "@kubernetes/client-node";
import { Elector, type StepDownReason } from "@tenure/core";
import { LeaseCandidate, LeaseLock, type PingAnswer } from "@tenure/kubernetes";
import type {} from "@tenure/testing/global-setup";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Admin, kubernetesServer, loadKubeConfig } from "../kube-helpers.js";
import {
  ClientGoCandidate,
  type ClientGoEvent,
  ensureClientGoElector,
} from "../support/client-go-elector.js";
import { type LeaseVersion, LeaseWireLog } from "../support/lease-wire-log.js";

const server = kubernetesServer();
const admin = new Admin(server);
const candidates = admin.config.makeApiClient(CoordinationV1beta1Api);
const election = "cle-reports";
/** Tenure's timings; its lease (6 s) differs from the coordinator's 5 s, so their writes tell apart. */
const tenureTiming = { leaseDurationMs: 6000, renewDeadlineMs: 4000, retryPeriodMs: 1000 } as const;
const goTiming = { leaseDuration: "4s", renewDeadline: "3s", retryPeriod: "500ms" } as const;
/** The coordinator's lease for a holder it writes (pkg/controlplane/controller/leaderelection). */
const COORDINATOR_LEASE_SECONDS = 5;
/** Generous bounds: they catch an election that never comes, not a slow one. */
const electionBoundMs = 30_000;

const ms = (from: bigint, to: bigint): number => Number(to - from) / 1e6;

interface Term {
  readonly startedNs: bigint;
  endedNs?: bigint;
  reason?: StepDownReason | "exited";
}

interface Participant {
  readonly identity: string;
  readonly side: "tenure" | "client-go";
  readonly startedNs: bigint;
  readonly terms: Term[];
  /** Resolves with the participant's term number `index` (0-based) when it begins. */
  term(index: number): Promise<Term>;
  stop(): Promise<void>;
}

/** Terms of one participant, and promises of them as they begin. */
function termLog(): { terms: Term[]; term(index: number): Promise<Term>; begin(atNs: bigint): void } {
  const terms: Term[] = [];
  const waiting: { index: number; resolve: (term: Term) => void }[] = [];
  return {
    terms,
    term: (index) => {
      const known = terms[index];
      if (known !== undefined) return Promise.resolve(known);
      return new Promise((resolve) => waiting.push({ index, resolve }));
    },
    begin: (atNs) => {
      const term: Term = { startedNs: atNs };
      terms.push(term);
      for (const waiter of waiting.filter((w) => w.index === terms.length - 1)) waiter.resolve(term);
    },
  };
}

describe("Coordinated Leader Election on kube-apiserver's coordinator", () => {
  let namespace = "";
  let wire: LeaseWireLog;
  let goBinary = "";
  const participants: Participant[] = [];
  const pings = new Map<string, PingAnswer[]>();
  const problems: Error[] = [];

  beforeAll(async () => {
    goBinary = (await ensureClientGoElector()).path;
    namespace = await admin.freshNamespace("cle");
    wire = await LeaseWireLog.start(admin.config, namespace, election, (error) => problems.push(error));
  });

  afterAll(async () => {
    for (const participant of participants) await participant.stop();
    wire?.stop();
  });

  function startTenure(identity: string, emulationVersion: string): Participant {
    const config = loadKubeConfig(server.kubeconfig);
    const lock = new LeaseLock({ namespace, kubeConfig: config });
    const answers: PingAnswer[] = [];
    pings.set(identity, answers);
    const candidate = new LeaseCandidate({
      namespace,
      kubeConfig: config,
      leaseName: election,
      identity,
      binaryVersion: "1.36.0",
      emulationVersion,
      onPingAnswered: (answer) => answers.push(answer),
    });
    const { terms, term, begin } = termLog();
    const elector = new Elector({
      store: lock,
      name: election,
      identity,
      coordinated: true,
      ...tenureTiming,
      onStartedLeading: () => begin(process.hrtime.bigint()),
      onStoppedLeading: ({ reason }) => {
        const term = terms.at(-1);
        if (term !== undefined) Object.assign(term, { endedNs: process.hrtime.bigint(), reason });
      },
    });
    const participant: Participant = {
      identity,
      side: "tenure",
      startedNs: process.hrtime.bigint(),
      terms,
      term,
      stop: async () => {
        await elector.stop();
        await candidate.stop();
        await lock.close();
      },
    };
    participants.push(participant);
    elector.start();
    candidate.start().catch((error: unknown) => problems.push(error as Error));
    return participant;
  }

  function startClientGo(identity: string, version: string): Participant {
    const { terms, term, begin } = termLog();
    const process_ = new ClientGoCandidate({
      binary: goBinary,
      kubeconfig: server.kubeconfig,
      namespace,
      name: election,
      identity,
      ...goTiming,
      coordinated: { binaryVersion: version, emulationVersion: version },
      onEvent: (event: ClientGoEvent) => {
        if (event.event === "started-leading") begin(event.monotonicNs);
        if (event.event === "stopped-leading") {
          const term = terms.at(-1);
          if (term !== undefined && term.endedNs === undefined) {
            Object.assign(term, { endedNs: event.monotonicNs, reason: "exited" });
          }
        }
      },
      onExit: () => {},
      onProtocolError: (error) => problems.push(error),
    });
    const participant: Participant = {
      identity,
      side: "client-go",
      startedNs: process.hrtime.bigint(),
      terms,
      term,
      stop: async () => {
        process_.signal("SIGTERM");
        await process_.exited;
      },
    };
    participants.push(participant);
    return participant;
  }

  const holderIs = (identity: string) => (versions: readonly LeaseVersion[]) =>
    versions.at(-1)?.spec.holderIdentity === identity;
  const firstVersion = (predicate: (version: LeaseVersion) => boolean, after = 0): LeaseVersion => {
    const found = wire.versions.slice(after).find(predicate);
    if (found === undefined) throw new Error("no such Lease version");
    return found;
  };
  /** The participant's first term; the bound catches an election that never comes. */
  function leading(participant: Participant, index = 0): Promise<Term> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${participant.identity} did not start leading within ${electionBoundMs} ms`)),
        electionBoundMs,
      );
    });
    return Promise.race([participant.term(index), timeout]).finally(() => clearTimeout(timer));
  }

  it("the coordinator picks the holder; Tenure takes it up, yields at once on preferredHolder, and client-go waits out its lease", async () => {
    const report: string[] = [];

    // 1. One Tenure candidate: the coordinator creates the Lease naming it; Tenure takes the term up.
    const ts136 = startTenure("ts-136", "1.36.0");
    await wire.waitFor("holder ts-136", holderIs("ts-136"), electionBoundMs);
    const term136 = await leading(ts136);
    const created = firstVersion(() => true);
    expect(created.type).toBe("ADDED");
    expect(created.spec).toMatchObject({
      holderIdentity: "ts-136",
      leaseDurationSeconds: COORDINATOR_LEASE_SECONDS,
      strategy: "OldestEmulationVersion",
    });
    expect(created.spec.acquireTime).toBeUndefined();
    report.push(
      `picked ts-136 (only candidate): Lease created by the coordinator ${ms(ts136.startedNs, created.arrivedNs).toFixed(0)} ms after start, ts-136 leading after ${ms(ts136.startedNs, term136.startedNs).toFixed(0)} ms`,
    );

    // 2. A client-go candidate of a newer version: ts-136 stays the holder. (Not the same versions:
    //    the coordinator breaks a tie by creationTimestamp, which has whole seconds, and between two
    //    candidates created in the same second its pick depends on its lister's order — seen here as
    //    "holder changed from ts-136 to go-136" for a go-136 created in ts-136's second.)
    const go1361 = startClientGo("go-1361", "1.36.1");

    // 3. A client-go candidate emulating 1.35: the coordinator asks ts-136 to step down.
    const beforePreferred = wire.versions.length;
    const go135 = startClientGo("go-135", "1.35.0");
    await wire.waitFor(
      "preferredHolder go-135",
      (versions) => versions.slice(beforePreferred).some((v) => v.spec.preferredHolder === "go-135"),
      electionBoundMs,
    );
    const asked = firstVersion((v) => v.spec.preferredHolder === "go-135", beforePreferred);
    await wire.waitFor("holder go-135", holderIs("go-135"), electionBoundMs);
    const goTerm = await leading(go135);
    const released = firstVersion((v) => v.spec.holderIdentity === "", beforePreferred);
    const handedTo135 = firstVersion((v) => v.spec.holderIdentity === "go-135", beforePreferred);
    expect(term136.reason).toBe("yielded");
    expect(term136.endedNs).toBeDefined();
    const yieldedNs = term136.endedNs ?? 0n;
    expect(released.spec.preferredHolder).toBe("go-135"); // the release keeps the request
    expect(handedTo135.spec.preferredHolder).toBeUndefined(); // the coordinator clears it
    expect(yieldedNs < goTerm.startedNs).toBe(true);
    report.push(
      `preferredHolder go-135 (binary and emulation 1.35.0) set ${ms(go135.startedNs, asked.arrivedNs).toFixed(0)} ms after go-135 started; ts-136 stopped leading ${ms(asked.arrivedNs, yieldedNs).toFixed(0)} ms after the test's own watch delivered the request (negative: the elector's watch was first), its release landed ${ms(asked.arrivedNs, released.arrivedNs).toFixed(0)} ms after it; the coordinator wrote holder go-135 ${ms(released.arrivedNs, handedTo135.arrivedNs).toFixed(0)} ms after the release; go-135 leading ${ms(asked.arrivedNs, goTerm.startedNs).toFixed(0)} ms after the request`,
    );

    // 4. A Tenure candidate emulating 1.34: client-go's leader is asked to step down, stops renewing
    //    and the coordinator hands over only once the lease it wrote has run out.
    const beforeSecond = wire.versions.length;
    const ts134 = startTenure("ts-134", "1.34.0");
    await wire.waitFor(
      "preferredHolder ts-134",
      (versions) => versions.slice(beforeSecond).some((v) => v.spec.preferredHolder === "ts-134"),
      electionBoundMs,
    );
    const askedGo = firstVersion((v) => v.spec.preferredHolder === "ts-134", beforeSecond);
    await wire.waitFor("holder ts-134", holderIs("ts-134"), electionBoundMs);
    const term134 = await leading(ts134);
    const handedTo134 = firstVersion((v) => v.spec.holderIdentity === "ts-134", beforeSecond);
    // client-go stopped renewing when asked, and released only when its renew deadline (3 s) ran
    // out; its release is a fresh spec, so it dropped the Lease's strategy (Tenure's kept it).
    const goVersions = wire.versions.slice(
      wire.versions.indexOf(askedGo) + 1,
      wire.versions.indexOf(handedTo134),
    );
    expect(goVersions.map((v) => v.spec.holderIdentity)).toEqual([""]);
    const goRelease = goVersions[0];
    if (goRelease === undefined) throw new Error("unreachable");
    expect(goRelease.spec.strategy).toBeUndefined();
    expect(released.spec.strategy).toBe("OldestEmulationVersion");
    expect(ms(askedGo.arrivedNs, goRelease.arrivedNs)).toBeGreaterThan(2500);
    expect(goTerm.endedNs === undefined || goTerm.endedNs < term134.startedNs).toBe(true);
    report.push(
      `preferredHolder ts-134 (emulation 1.34.0) set ${ms(ts134.startedNs, askedGo.arrivedNs).toFixed(0)} ms after ts-134 started; client-go go-135 stopped renewing and released only ${ms(askedGo.arrivedNs, goRelease.arrivedNs).toFixed(0)} ms after the request (its renew deadline, 3 s; the release dropped spec.strategy); the coordinator wrote holder ts-134 ${ms(goRelease.arrivedNs, handedTo134.arrivedNs).toFixed(0)} ms after that; ts-134 leading ${ms(askedGo.arrivedNs, term134.startedNs).toFixed(0)} ms after the request`,
    );

    // 5. The leader stops. Every remaining candidate last renewed over 5 s ago (the coordinator's
    //    election window), so the coordinator pings them all first: ts-136 and go-1361 answer, go-135
    //    (exited when it lost the Lease; client-go leaves its LeaseCandidate behind) does not, and
    //    the coordinator elects among those that answered once the 5 s window has passed.
    const newestRenewal = async (): Promise<number> => {
      const list = await candidates.listNamespacedLeaseCandidate({ namespace });
      return Math.max(...list.items.map((item) => Date.parse(String(item.spec?.renewTime ?? 0))));
    };
    const staleAtMs = (await newestRenewal()) + 5500 - Date.now();
    // The coordinator's window is measured on the apiserver's wall clock: no event marks its end.
    if (staleAtMs > 0) await new Promise((resolve) => setTimeout(resolve, staleAtMs));
    const beforeLast = wire.versions.length;
    const pingsBefore = pings.get("ts-136")?.length ?? 0;
    await ts134.stop();
    await wire.waitFor("holder ts-136", holderIs("ts-136"), electionBoundMs);
    const lastRelease = firstVersion((v) => v.spec.holderIdentity === "", beforeLast);
    const handedBack = firstVersion((v) => v.spec.holderIdentity === "ts-136", beforeLast);
    const term136b = await leading(ts136, 1);
    const answers136 = (pings.get("ts-136") ?? []).slice(pingsBefore);
    expect(answers136.length).toBeGreaterThan(0);
    const unanswered = await candidates.readNamespacedLeaseCandidate({ name: "go-135", namespace });
    expect(String(unanswered.spec?.pingTime) > String(unanswered.spec?.renewTime)).toBe(true);
    expect(ms(lastRelease.arrivedNs, handedBack.arrivedNs)).toBeGreaterThan(4000);
    report.push(
      `ts-134 stopped (released): the coordinator pinged the candidates; ts-136 answered in ${answers136.map((a) => `${a.answeredInMs.toFixed(0)} ms`).join(", ")}; go-135 (exited) never answered; ${ms(lastRelease.arrivedNs, handedBack.arrivedNs).toFixed(0)} ms after the release the coordinator wrote holder ts-136 (emulation 1.36.0, below go-1361's 1.36.1); ts-136 leading again ${ms(lastRelease.arrivedNs, term136b.startedNs).toFixed(0)} ms after the release`,
    );

    // No Tenure write ever made a candidate the holder: every change of holder to a non-empty
    // identity carries the coordinator's signature (it clears acquireTime and writes a 5 s lease).
    const handovers = wire.versions.filter(
      (version, index) =>
        typeof version.spec.holderIdentity === "string" &&
        version.spec.holderIdentity !== "" &&
        version.spec.holderIdentity !== wire.versions[index - 1]?.spec.holderIdentity,
    );
    expect(handovers.map((v) => v.spec.holderIdentity)).toEqual(["ts-136", "go-135", "ts-134", "ts-136"]);
    for (const handover of handovers) {
      expect(handover.spec.acquireTime).toBeUndefined();
      expect(handover.spec.leaseDurationSeconds).toBe(COORDINATOR_LEASE_SECONDS);
    }
    // Each Tenure term began with a write of its own on the coordinator's version: a new token.
    const takenUp = wire.versions.filter(
      (v) => typeof v.spec.acquireTime === "string" && v.spec.holderIdentity !== "",
    );
    expect(new Set(takenUp.map((v) => v.spec.holderIdentity))).toEqual(new Set(["ts-136", "ts-134"]));
    expect(takenUp.every((v) => v.spec.leaseDurationSeconds === tenureTiming.leaseDurationMs / 1000)).toBe(
      true,
    );

    // Only the picked candidates ever led, one at a time.
    expect(go1361.terms).toEqual([]);
    const intervals = participants
      .flatMap((p) => p.terms.map((t) => ({ who: p.identity, ...t })))
      .sort((a, b) => (a.startedNs < b.startedNs ? -1 : 1));
    for (let i = 1; i < intervals.length; i++) {
      const previous = intervals[i - 1];
      const current = intervals[i];
      if (previous === undefined || current === undefined) continue;
      expect(previous.endedNs, `${previous.who}'s term ended before ${current.who}'s began`).toBeDefined();
      expect((previous.endedNs ?? 0n) <= current.startedNs).toBe(true);
    }

    // Every ping a Tenure candidate answered, it answered at once, never with a renewTime before it.
    const answered = [...pings.entries()].flatMap(([who, list]) => list.map((p) => ({ who, ...p })));
    for (const answer of answered) {
      expect(answer.renewTime >= answer.pingTime).toBe(true);
      expect(answer.answeredInMs).toBeLessThan(2000);
    }
    report.push(
      `all pings answered by Tenure candidates: ${answered.map((a) => `${a.who} ${a.answeredInMs.toFixed(0)} ms`).join(", ")}`,
    );
    expect(problems).toEqual([]);
    console.log(`Coordinated Leader Election, observed:\n- ${report.join("\n- ")}`);
  });
});
