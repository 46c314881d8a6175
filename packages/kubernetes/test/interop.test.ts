// client-go and Tenure on one Lease, on the real kube-apiserver of the harness.
//
// client-go candidates are child processes running interop/client-go-elector (client-go's
// tools/leaderelection with a resourcelock.LeaseLock, at the apiserver's release); Tenure candidates
// are Electors on LeaseLock in this process. Each round starts two followers of the side that does
// not lead, then the leader leaves (released: SIGTERM / stop(); or killed: SIGKILL /
// stop({ release: false })), so every round is a cross-side takeover, and the rounds cycle through
// {client-go, Tenure} × {release, kill}. Checked on one clock (CLOCK_MONOTONIC): no two leadership
// intervals ever overlap; the takeover comes in time and, after a kill, not before the lease
// expired as the followers saw it. Checked on the wire (the raw JSON of every Lease version, from a
// watch, and reads through client-node's CoordinationV1Api): both sides write the same fields in
// the same formats for acquire, renew and release, and count leaseTransitions alike.
import { CoordinationV1Api, CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { Elector } from "@tenure/core";
import { LeaseLock } from "@tenure/kubernetes";
import type {} from "@tenure/testing/global-setup";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { ClientGoCandidate, ensureClientGoElector } from "./support/client-go-elector.js";
import { LeadershipIntervals, type Side, Timeline } from "./support/leadership-timeline.js";
import { type LeaseVersion, LeaseWireLog } from "./support/lease-wire-log.js";

/**
 * The timings of every candidate (a Lease holds whole seconds). A client-go follower notices a
 * renewal only when the second of renewTime moves, so it may count its lease from up to 1 s before
 * the leader's last write: with client-go peers, leaseDuration − renewDeadline must exceed 1 s
 * (here 1.2 s), or a cut-off Tenure leader could still act when a client-go follower takes over.
 */
const leaseDurationMs = 3000;
const renewDeadlineMs = 1800;
const retryPeriodMs = 300;
const goTimingFlags = { leaseDuration: "3s", renewDeadline: "1800ms", retryPeriod: "300ms" } as const;

/** Rounds of leave-and-take-over; each of the four (side × how) combinations gets a quarter. */
const rounds = 24;
/** Renewals each leader writes, followers watching, before it leaves. */
const renewalsBeforeLeaving = 3;

/** Generous real-time bounds: these catch a takeover that never comes, not a slow one. */
const startBoundMs = 20_000;
const releaseTakeoverBoundMs = 10_000;
const killTakeoverBoundMs = 20_000;
const renewalsBoundMs = 10_000;
/**
 * After a kill, a follower waits a full lease from when it saw the dead leader's last write. Our
 * watch sees that write at about the same time as the followers (same host, same apiserver); this
 * much earlier than "our sighting + lease" still counts as waiting the lease.
 */
const sightingToleranceMs = 250;

/** A Lease MicroTime: RFC 3339, UTC, exactly 6 fractional digits. */
const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
/** The five fields of the record, as both client-go and Tenure map them onto a Lease spec. */
const RECORD_FIELDS = "acquireTime,holderIdentity,leaseDurationSeconds,leaseTransitions,renewTime";

type Departure = "release" | "kill";

/** A candidate of either side. */
interface Participant {
  readonly who: string;
  readonly side: Side;
  /** Ends the candidate as a release (SIGTERM / stop()) or a crash (SIGKILL / stop({ release: false })). */
  leave(how: Departure): Promise<void>;
  /** Ends it without checks (cleanup after a failure). */
  abandon(): Promise<void>;
}

interface ElectionSettings {
  readonly binary: string;
  readonly kubeconfigPath: string;
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  readonly name: string;
}

/** The candidates of one election and what they report. */
class MixedElection {
  readonly timeline = new Timeline();
  readonly intervals = new LeadershipIntervals();
  /** Candidates the test is ending: their step-down and exit are expected. */
  readonly #leaving = new Set<string>();
  readonly #participants: Participant[] = [];
  readonly #settings: ElectionSettings;
  #count = 0;

  constructor(settings: ElectionSettings) {
    this.#settings = settings;
  }

  start(side: Side): Participant {
    const participant = side === "client-go" ? this.#startClientGo() : this.#startTenure();
    this.#participants.push(participant);
    return participant;
  }

  async abandonAll(): Promise<void> {
    await Promise.all(this.#participants.map((participant) => participant.abandon()));
  }

  #unexpected(who: string, what: string): void {
    if (!this.#leaving.has(who))
      this.timeline.fail(new Error(`${who} ${what}, which the test did not cause`));
  }

  #startClientGo(): Participant {
    const who = `go-${this.#count++}`;
    const side: Side = "client-go";
    const { timeline, intervals } = this;
    const candidate = new ClientGoCandidate({
      binary: this.#settings.binary,
      kubeconfig: this.#settings.kubeconfigPath,
      namespace: this.#settings.namespace,
      name: this.#settings.name,
      identity: who,
      ...goTimingFlags,
      onEvent: (event) => {
        const atNs = event.monotonicNs;
        switch (event.event) {
          case "ready":
            timeline.add({ atNs, who, side, kind: "ready" });
            return;
          case "new-leader":
            timeline.add({ atNs, who, side, kind: "new-leader", leader: event.identity });
            return;
          case "started-leading":
            intervals.open(who, side, atNs);
            timeline.add({ atNs, who, side, kind: "started-leading" });
            return;
          case "stopped-leading":
            intervals.close(who, atNs);
            timeline.add({ atNs, who, side, kind: "stopped-leading" });
            this.#unexpected(who, "stopped leading");
            return;
          case "exiting":
            timeline.add({
              atNs,
              who,
              side,
              kind: "exited",
              detail: `exiting ${event.code}: ${event.reason}`,
            });
            return;
        }
      },
      onExit: (exit) => {
        // After SIGKILL no line says so: the term ends, at the latest, when the process is gone.
        intervals.close(who, exit.observedNs);
        const how = exit.signal ?? `code ${exit.code}`;
        timeline.add({ atNs: exit.observedNs, who, side, kind: "exited", detail: `process ended (${how})` });
        this.#unexpected(who, `exited (${how}; log: ${candidate.logFile})`);
      },
      onProtocolError: (error) => timeline.fail(error),
    });
    return {
      who,
      side,
      leave: async (how) => {
        this.#leaving.add(who);
        candidate.signal(how === "release" ? "SIGTERM" : "SIGKILL");
        const exit = await candidate.exited;
        if (how === "release")
          expect(exit, `${who} after SIGTERM (log: ${candidate.logFile})`).toMatchObject({ code: 0 });
        else expect(exit.signal, `${who} after SIGKILL`).toBe("SIGKILL");
      },
      abandon: async () => {
        this.#leaving.add(who);
        candidate.signal("SIGKILL");
        await candidate.exited;
      },
    };
  }

  #startTenure(): Participant {
    const who = `ts-${this.#count++}`;
    const side: Side = "tenure";
    const { timeline, intervals } = this;
    const store = new LeaseLock({
      kubeConfig: this.#settings.kubeConfig,
      namespace: this.#settings.namespace,
    });
    const elector = new Elector({
      store,
      name: this.#settings.name,
      identity: who,
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
    });
    elector.subscribe((event) => {
      // Listeners run synchronously as the elector emits: read CLOCK_MONOTONIC now and carry the
      // event's own times (performance.now() milliseconds) over by their offset from `atMs`.
      const nowNs = process.hrtime.bigint();
      const onClock = (ms: number): bigint => nowNs + BigInt(Math.round((ms - event.atMs) * 1e6));
      switch (event.type) {
        case "started-leading":
          intervals.open(who, side, nowNs, onClock(event.safeUntilMs));
          timeline.add({
            atNs: nowNs,
            who,
            side,
            kind: "started-leading",
            detail: `token ${event.fencingToken}`,
          });
          return;
        case "renewed":
          intervals.extend(who, onClock(event.safeUntilMs));
          return;
        case "stopped-leading":
          intervals.close(who, nowNs);
          timeline.add({ atNs: nowNs, who, side, kind: "stopped-leading", detail: event.reason });
          if (event.reason === "stopped") this.#unexpected(who, "stopped leading");
          else timeline.fail(new Error(`${who} stopped leading on its own (${event.reason})`));
          return;
        case "leader-changed":
          timeline.add({ atNs: nowNs, who, side, kind: "new-leader", leader: event.leader ?? "" });
          return;
        case "store-error":
          timeline.add({
            atNs: nowNs,
            who,
            side,
            kind: "store-error",
            detail: `${event.purpose}: ${event.error.code} ${event.error.message}`,
          });
          return;
        case "stopped":
          timeline.add({ atNs: nowNs, who, side, kind: "exited", detail: "elector stopped" });
          return;
      }
    });
    elector.start();
    let closed: Promise<void> | undefined;
    const end = (release: boolean): Promise<void> => {
      closed ??= elector.stop({ release }).finally(() => store.close());
      return closed;
    };
    return {
      who,
      side,
      leave: async (how) => {
        this.#leaving.add(who);
        await end(how === "release");
      },
      abandon: async () => {
        this.#leaving.add(who);
        await end(false);
      },
    };
  }
}

/** What one round measured. */
interface RoundResult {
  readonly round: number;
  readonly from: string;
  readonly to: string;
  readonly how: Departure;
  /** From the leader's departure to the new leader's started-leading. */
  readonly takeoverMs: number;
  /** Kill rounds: from our watch's sighting of the dead leader's last write to the takeover. */
  readonly afterLastWriteMs: number | undefined;
  /** Kill rounds: from the last change of the record the new leader's side can see, to the takeover. */
  readonly afterSightingMs: number | undefined;
  /** Kills of a Tenure leader: takeover minus the dead leader's safe-to-act deadline (negative: inside it). */
  readonly beyondSafeUntilMs: number | undefined;
}

/** A spec's defined fields (client-node fills absent ones with undefined). */
function definedFields(spec: object | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(spec ?? {}).filter(([, value]) => value !== undefined));
}

function fieldNames(spec: Readonly<Record<string, unknown>>): string {
  return Object.keys(spec).sort().join(",");
}

function timeFormat(value: unknown): string {
  return typeof value === "string" && MICRO_TIME.test(value)
    ? "MicroTime(6)"
    : `not a MicroTime: ${JSON.stringify(value)}`;
}

/** The writer-independent shape of one Lease version: what must read identically from both sides. */
interface WireShape {
  readonly specFields: string;
  readonly metadataFields: string;
  readonly acquireTime: string;
  readonly renewTime: string;
  readonly holderIdentity: "" | "the writer";
  readonly leaseDurationSeconds: unknown;
  readonly acquireTimeEqualsRenewTime: boolean;
  /** leaseTransitions minus the previous version's (for a create: the value itself). */
  readonly leaseTransitionsChange: number;
}

type WriteKind = "create" | "acquire" | "renew" | "release";

interface ClassifiedWrite {
  readonly kind: WriteKind;
  readonly writer: string;
  readonly side: Side;
  readonly shape: WireShape;
}

const sideOf = (who: string): Side => (who.startsWith("go-") ? "client-go" : "tenure");

/** Who wrote each version and how: a release is written by the previous holder. */
function classifyWrites(versions: readonly LeaseVersion[]): ClassifiedWrite[] {
  const writes: ClassifiedWrite[] = [];
  let previousHolder = "";
  let previousTransitions = 0;
  for (const version of versions) {
    const spec = version.spec;
    const holder = typeof spec.holderIdentity === "string" ? spec.holderIdentity : "";
    const transitions = typeof spec.leaseTransitions === "number" ? spec.leaseTransitions : Number.NaN;
    const kind: WriteKind =
      version.type === "ADDED"
        ? "create"
        : holder === ""
          ? "release"
          : holder !== previousHolder
            ? "acquire"
            : "renew";
    const writer = kind === "release" ? previousHolder : holder;
    writes.push({
      kind,
      writer,
      side: sideOf(writer),
      shape: {
        specFields: fieldNames(spec),
        metadataFields: version.metadataFields.join(","),
        acquireTime: timeFormat(spec.acquireTime),
        renewTime: timeFormat(spec.renewTime),
        holderIdentity: holder === "" ? "" : "the writer",
        leaseDurationSeconds: spec.leaseDurationSeconds,
        acquireTimeEqualsRenewTime: spec.acquireTime === spec.renewTime,
        leaseTransitionsChange: kind === "create" ? transitions : transitions - previousTransitions,
      },
    });
    previousHolder = holder;
    previousTransitions = transitions;
  }
  return writes;
}

/**
 * The record as client-go's LeaseLock.Get serializes it to detect changes: LeaderElectionRecord
 * JSON, whose metav1.Time fields carry whole seconds. Versions that differ only below the second
 * look the same to a client-go follower.
 */
function clientGoView(spec: Readonly<Record<string, unknown>>): string {
  const seconds = (value: unknown): string => (typeof value === "string" ? value.slice(0, 19) : "null");
  return JSON.stringify([
    spec.holderIdentity,
    spec.leaseDurationSeconds,
    seconds(spec.acquireTime),
    seconds(spec.renewTime),
    spec.leaseTransitions,
  ]);
}

/**
 * The earliest version a client-go follower may have last seen change: the first of the final run
 * of versions that look the same to it ({@link clientGoView}).
 */
function firstSighting(versions: readonly LeaseVersion[]): LeaseVersion {
  const last = versions.at(-1);
  if (last === undefined) throw new Error("no versions");
  let first = last;
  for (let index = versions.length - 2; index >= 0; index -= 1) {
    const version = versions[index];
    if (version === undefined || clientGoView(version.spec) !== clientGoView(last.spec)) break;
    first = version;
  }
  return first;
}

function summarize(values: readonly number[]): string {
  if (values.length === 0) return "none";
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  return `min ${sorted[0]?.toFixed(0)} / median ${median.toFixed(0)} / max ${sorted.at(-1)?.toFixed(0)} ms (n=${values.length})`;
}

describe("interop with client-go on one Lease", () => {
  const server = inject("tenureServers").servers.kubernetes;
  let binary = "";
  let kubeConfig: KubeConfig;
  let coordination: CoordinationV1Api;
  let namespace = "";

  beforeAll(async () => {
    if (server === undefined) throw new Error("the global setup provided no kube-apiserver");
    const built = await ensureClientGoElector((message) => console.error(`[interop] ${message}`));
    if (built.built)
      console.error(`[interop] built client-go-elector in ${(built.buildMs / 1000).toFixed(1)} s`);
    binary = built.path;
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(server.kubeconfig);
    coordination = kubeConfig.makeApiClient(CoordinationV1Api);
    // A namespace of its own, never deleted (no controller-manager would finish the deletion).
    namespace = `tenure-interop-${process.pid.toString(36)}-${Date.now().toString(36)}`;
    await kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  }, 25 * 60_000);

  it(
    `never has two leaders over ${rounds} rounds of kills and releases on both sides, and both write the same Lease`,
    async () => {
      if (server === undefined) throw new Error("the global setup provided no kube-apiserver");
      const name = "interop";
      const election = new MixedElection({
        binary,
        kubeconfigPath: server.kubeconfig,
        kubeConfig,
        namespace,
        name,
      });
      const { timeline, intervals } = election;
      const wire = await LeaseWireLog.start(kubeConfig, namespace, name, (error) => timeline.fail(error));
      const startedAt = performance.now();
      const results: RoundResult[] = [];
      /** Lease reads through CoordinationV1Api after each leader took over, by side. */
      const reads: { side: Side; who: string; spec: Record<string, unknown> }[] = [];

      /** Reads the Lease through client-node, checks it shows `who` holding it, waits for the watch to catch up. */
      const readHeld = async (who: string): Promise<Record<string, unknown>> => {
        const lease = await coordination.readNamespacedLease({ name, namespace });
        const spec = definedFields(lease.spec);
        expect(spec.holderIdentity, "holderIdentity just after started-leading").toBe(who);
        reads.push({ side: sideOf(who), who, spec });
        const version = lease.metadata?.resourceVersion;
        if (version === undefined) throw new Error("a Lease read without resourceVersion");
        await wire.waitForVersion(version, 10_000);
        return spec;
      };

      try {
        let leader = election.start("client-go");
        await timeline.waitFor(
          `${leader.who} to start leading on a fresh Lease`,
          (entry) => entry.kind === "started-leading" && entry.who === leader.who,
          startBoundMs,
        );
        let previousTransitions = Number((await readHeld(leader.who)).leaseTransitions);

        for (let round = 0; round < rounds; round += 1) {
          const how: Departure = round % 4 < 2 ? "release" : "kill";
          const otherSide: Side = leader.side === "client-go" ? "tenure" : "client-go";
          const current = leader;
          const followers = [election.start(otherSide), election.start(otherSide)];
          await Promise.all(
            followers.map((follower) =>
              timeline.waitFor(
                `${follower.who} to see ${current.who} lead`,
                (entry) =>
                  entry.who === follower.who && entry.kind === "new-leader" && entry.leader === current.who,
                startBoundMs,
              ),
            ),
          );

          // Let the leader hold the Lease for a few renewals, followers watching, before it leaves.
          const held = (versions: readonly LeaseVersion[]): number =>
            versions.filter((version) => version.spec.holderIdentity === current.who).length;
          const heldSoFar = held(wire.versions);
          await wire.waitFor(
            `${renewalsBeforeLeaving} renewals by ${current.who}`,
            (versions) => held(versions) >= heldSoFar + renewalsBeforeLeaving,
            renewalsBoundMs,
          );

          const mark = timeline.mark();
          const safeUntilNs = intervals.current(current.who)?.safeUntilNs;
          const departedNs = process.hrtime.bigint();
          const leaving = current.leave(how);
          // Awaited below; if the takeover never comes, the wait's error is the one to report.
          leaving.catch(() => undefined);
          const takeover = await timeline.waitFor(
            `a ${otherSide} follower to take over after ${current.who} (${current.side}) was ${how === "kill" ? "killed" : "released"}`,
            (entry) =>
              entry.kind === "started-leading" && followers.some((follower) => follower.who === entry.who),
            how === "release" ? releaseTakeoverBoundMs : killTakeoverBoundMs,
            mark,
          );
          await leaving;
          const next = followers.find((follower) => follower.who === takeover.who);
          if (next === undefined) throw new Error(`${takeover.who} is not a follower of this round`);

          const spec = await readHeld(next.who);
          const transitions = Number(spec.leaseTransitions);
          expect(transitions, `leaseTransitions after ${next.who} took over from ${current.who}`).toBe(
            previousTransitions + 1,
          );
          previousTransitions = transitions;

          let afterLastWriteMs: number | undefined;
          let afterSightingMs: number | undefined;
          let beyondSafeUntilMs: number | undefined;
          if (how === "kill") {
            // The expiry rule of the follower's side: it takes a dead leader's Lease only a full lease
            // after it last saw the record change. A Tenure follower sees every version; a client-go
            // follower compares the record serialized with whole-second times, so it sees a change
            // only when the second of renewTime moves (see firstSighting).
            const held = wire.versions.filter((version) => version.spec.holderIdentity === current.who);
            const lastWrite = held.at(-1);
            if (lastWrite === undefined) throw new Error(`the watch saw no write by ${current.who}`);
            const sighted = next.side === "tenure" ? lastWrite : firstSighting(held);
            afterLastWriteMs = Number(takeover.atNs - lastWrite.arrivedNs) / 1e6;
            afterSightingMs = Number(takeover.atNs - sighted.arrivedNs) / 1e6;
            expect(
              afterSightingMs,
              `${next.who} (${next.side}) took over ${current.who}'s Lease ${afterSightingMs.toFixed(0)} ms after the last change it could see`,
            ).toBeGreaterThanOrEqual(leaseDurationMs - sightingToleranceMs);
            // Had the dead Tenure leader been cut off instead, it would have acted until safeUntil.
            if (current.side === "tenure" && safeUntilNs !== undefined) {
              beyondSafeUntilMs = Number(takeover.atNs - safeUntilNs) / 1e6;
              expect(
                beyondSafeUntilMs,
                `${next.who} took over ${beyondSafeUntilMs.toFixed(0)} ms after ${current.who}'s safe-to-act deadline`,
              ).toBeGreaterThan(0);
            }
          }
          results.push({
            round,
            from: current.who,
            to: next.who,
            how,
            takeoverMs: Number(takeover.atNs - departedNs) / 1e6,
            afterLastWriteMs,
            afterSightingMs,
            beyondSafeUntilMs,
          });

          for (const follower of followers) if (follower !== next) await follower.leave("release");
          leader = next;
        }

        await leader.leave("release");
        const final = await coordination.readNamespacedLease({ name, namespace });
        const finalVersion = final.metadata?.resourceVersion;
        if (finalVersion === undefined) throw new Error("a Lease read without resourceVersion");
        await wire.waitForVersion(finalVersion, 10_000);
        const finalSpec = definedFields(final.spec);
        expect(finalSpec.holderIdentity, "holderIdentity after the last release").toBe("");
        expect(finalSpec.leaseDurationSeconds, "leaseDurationSeconds after the last release").toBe(1);
      } finally {
        await election.abandonAll();
        wire.stop();
      }
      const elapsedS = (performance.now() - startedAt) / 1000;

      // Nothing unexpected happened, and no two leaders' intervals overlap on CLOCK_MONOTONIC.
      if (timeline.failure !== undefined) throw timeline.failure;
      expect(intervals.overlaps(process.hrtime.bigint(), (atNs) => timeline.relativeMs(atNs))).toEqual([]);
      expect(intervals.all.every((interval) => interval.endNs !== undefined)).toBe(true);
      expect(intervals.all).toHaveLength(rounds + 1);

      // Reads through CoordinationV1Api: the same fields and formats whoever holds the Lease.
      for (const read of reads) {
        expect(fieldNames(read.spec), `fields of the Lease held by ${read.who}`).toBe(RECORD_FIELDS);
        expect(timeFormat(read.spec.acquireTime), `acquireTime held by ${read.who}`).toBe("MicroTime(6)");
        expect(timeFormat(read.spec.renewTime), `renewTime held by ${read.who}`).toBe("MicroTime(6)");
        expect(read.spec.leaseDurationSeconds, `leaseDurationSeconds held by ${read.who}`).toBe(
          leaseDurationMs / 1000,
        );
      }
      expect(new Set(reads.map((read) => read.side))).toEqual(new Set<Side>(["client-go", "tenure"]));

      // Every version on the wire: for each kind of write, client-go's and Tenure's read identically.
      const writes = classifyWrites(wire.versions);
      expect(wire.versions.some((version) => version.type === "DELETED")).toBe(false);
      const shapes = (kind: WriteKind, side: Side): string[] => [
        ...new Set(
          writes
            .filter((write) => write.kind === kind && write.side === side)
            .map((write) => JSON.stringify(write.shape)),
        ),
      ];
      for (const kind of ["acquire", "renew", "release"] as const) {
        const goShapes = shapes(kind, "client-go");
        const tenureShapes = shapes(kind, "tenure");
        expect(goShapes, `client-go ${kind} writes`).toHaveLength(1);
        expect(tenureShapes, `Tenure ${kind} writes`).toEqual(goShapes);
      }
      const [releaseShape] = shapes("release", "tenure");
      expect(JSON.parse(releaseShape ?? "{}")).toMatchObject({
        specFields: RECORD_FIELDS,
        holderIdentity: "",
        leaseDurationSeconds: 1,
        leaseTransitionsChange: 0,
      });
      const [acquireShape] = shapes("acquire", "tenure");
      expect(JSON.parse(acquireShape ?? "{}")).toMatchObject({
        specFields: RECORD_FIELDS,
        acquireTime: "MicroTime(6)",
        renewTime: "MicroTime(6)",
        leaseDurationSeconds: leaseDurationMs / 1000,
        acquireTimeEqualsRenewTime: true,
        leaseTransitionsChange: 1,
      });

      const count = (kind: WriteKind, side: Side): number =>
        writes.filter((write) => write.kind === kind && write.side === side).length;
      const combos = (["client-go", "tenure"] as const).flatMap((side) =>
        (["release", "kill"] as const).map((how) => {
          const matching = results.filter((result) => sideOf(result.from) === side && result.how === how);
          return `  ${side} leader ${how === "kill" ? "killed" : "released"} → other side leads: ${summarize(matching.map((result) => result.takeoverMs))}`;
        }),
      );
      console.log(
        [
          `[interop] ${rounds} rounds (${results.length} cross-side takeovers, ${intervals.all.length} terms) in ${elapsedS.toFixed(1)} s; no overlapping leadership`,
          ...combos,
          `  kill takeovers after the dead leader's last write: ${summarize(results.flatMap((result) => (result.afterLastWriteMs === undefined ? [] : [result.afterLastWriteMs])))}`,
          `  kill takeovers after the last change the follower could see: ${summarize(results.flatMap((result) => (result.afterSightingMs === undefined ? [] : [result.afterSightingMs])))}`,
          `  client-go takeovers minus the killed Tenure leader's safeUntil: ${summarize(results.flatMap((result) => (result.beyondSafeUntilMs === undefined ? [] : [result.beyondSafeUntilMs])))}`,
          `  Lease versions on the wire: ${wire.versions.length} (create by ${writes[0]?.writer}: ${JSON.stringify(writes[0]?.shape)})`,
          `  writes client-go/Tenure: acquire ${count("acquire", "client-go")}/${count("acquire", "tenure")}, renew ${count("renew", "client-go")}/${count("renew", "tenure")}, release ${count("release", "client-go")}/${count("release", "tenure")}`,
        ].join("\n"),
      );
    },
    10 * 60_000,
  );
});
