// The migration path on the real apiserver, as two rolling updates of one election: a fleet on the
// 2016 Endpoints annotation lock is replaced pod by pod with a fleet on the migration lock, which is
// then replaced pod by pod with a fleet on the Lease lock. At every step two fleets run side by side;
// no two electors may ever lead at once (checked when anyone starts leading, and on one monotonic
// clock over all safe-to-act intervals), and leadership must pass through all three fleets.

import { nextEvent } from "@tenure/conformance";
import { type ElectionTiming, Elector, type LockStore } from "@tenure/core";
import { LeadershipLog } from "@tenure/core/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AnnotationLock, LeaseLock, MigrationLock } from "../src/index.js";
import { Admin, kubernetesServer } from "./kube-helpers.js";

const server = kubernetesServer();
const admin = new Admin(server);
const timing: ElectionTiming = { leaseDurationMs: 2000, renewDeadlineMs: 1400, retryPeriodMs: 300 };
/** A takeover after a crash waits out a lease, and after a half-written migration write, a second one. */
const leaderWithinMs = 3 * timing.leaseDurationMs + 4000;
let namespace = "";

type Fleet = "annotation" | "migration" | "lease";
interface Member {
  readonly fleet: Fleet;
  readonly elector: Elector;
  readonly store: LockStore;
}

const members: Member[] = [];

beforeAll(async () => {
  namespace = await admin.freshNamespace("migrate");
});
afterAll(async () => {
  await Promise.allSettled(members.map((member) => member.elector.stop({ release: false })));
  await Promise.allSettled(members.map((member) => member.store.close()));
});

describe("migration lock between two fleets", () => {
  async function migrate(name: string, crashFirst: boolean): Promise<void> {
    const log = new LeadershipLog();
    const violations: string[] = [];
    const fleetsThatLed = new Set<Fleet>();
    let spawned = 0;

    /** This election's candidates (members also lists other tests', for the final cleanup). */
    const cohort: Member[] = [];
    const live = (): Member[] => cohort.filter((member) => member.elector.status().role !== "stopped");

    const join = (fleet: Fleet): Member => {
      const options = { kubeConfig: admin.config, namespace };
      const store =
        fleet === "annotation"
          ? new AnnotationLock(options)
          : fleet === "migration"
            ? new MigrationLock(options)
            : new LeaseLock(options);
      const elector = new Elector({ store, name, identity: `${fleet}-${spawned++}`, ...timing });
      const member = { fleet, elector, store };
      log.attach(elector);
      elector.subscribe((event) => {
        if (event.type !== "started-leading") return;
        fleetsThatLed.add(fleet);
        const others = cohort.filter((other) => other !== member && other.elector.isLeader());
        if (others.length > 0) {
          violations.push(
            `${elector.identity} started leading while ${others.map((o) => o.elector.identity)} led`,
          );
        }
      });
      members.push(member);
      cohort.push(member);
      elector.start();
      return member;
    };

    const awaitLeader = async (): Promise<Member> => {
      const current = live().find((member) => member.elector.isLeader());
      if (current !== undefined) return current;
      const { elector } = await nextEvent(
        live().map((member) => member.elector),
        (event) => event.type === "started-leading",
        leaderWithinMs,
        "a leader",
      );
      const leader = members.find((member) => member.elector === elector);
      if (leader === undefined) throw new Error("unknown elector");
      return leader;
    };

    /** One rolling update: each pod of `from` is replaced by one of `to`, the leader first. */
    const rollingUpdate = async (from: Fleet, to: Fleet, crashFirst: boolean): Promise<void> => {
      let crash = crashFirst;
      for (;;) {
        const old = live().filter((member) => member.fleet === from);
        if (old.length === 0) return;
        const leader = await awaitLeader();
        const leaving = leader.fleet === from ? leader : (old[0] as Member);
        // A pod ends either by SIGTERM (the elector releases) or by a crash (it does not).
        await leaving.elector.stop({ release: !crash });
        crash = !crash;
        join(to);
        await awaitLeader();
      }
    };

    for (let i = 0; i < 3; i++) join("annotation");
    expect((await awaitLeader()).fleet).toBe("annotation");

    await rollingUpdate("annotation", "migration", crashFirst);
    expect((await awaitLeader()).fleet).toBe("migration");
    // Both objects now name the migration fleet's leader.
    const lease = await admin.lease(namespace, name);
    const annotation = JSON.parse((await admin.annotation("Endpoints", namespace, name)) ?? "{}");
    const leader = await awaitLeader();
    expect(lease?.spec?.holderIdentity).toBe(leader.elector.identity);
    expect(annotation.holderIdentity).toBe(leader.elector.identity);

    await rollingUpdate("migration", "lease", !crashFirst);
    expect((await awaitLeader()).fleet).toBe("lease");

    expect(violations).toEqual([]);
    expect([...fleetsThatLed].sort()).toEqual(["annotation", "lease", "migration"]);
    log.assertSafe();
    await Promise.all(live().map((member) => member.elector.stop()));
  }

  it("moves an election from the Endpoints lock to a Lease in two rolling updates, never two leaders (releases first)", async () => {
    await migrate("rolling-migration-a", false);
  }, 120_000);

  it("moves an election from the Endpoints lock to a Lease in two rolling updates, never two leaders (crashes first)", async () => {
    await migrate("rolling-migration-b", true);
  }, 120_000);

  it("shows why the step through the migration lock is needed: an Endpoints fleet and a Lease fleet both lead", async () => {
    const name = "no-migration-step";
    const annotationStore = new AnnotationLock({ kubeConfig: admin.config, namespace });
    const leaseStore = new LeaseLock({ kubeConfig: admin.config, namespace });
    const annotation = new Elector({ store: annotationStore, name, identity: "annotation-only", ...timing });
    const lease = new Elector({ store: leaseStore, name, identity: "lease-only", ...timing });
    members.push({ fleet: "annotation", elector: annotation, store: annotationStore });
    members.push({ fleet: "lease", elector: lease, store: leaseStore });
    for (const elector of [annotation, lease]) {
      const started = nextEvent(
        [elector],
        (event) => event.type === "started-leading",
        leaderWithinMs,
        "a leader",
      );
      elector.start();
      await started;
    }
    // They share no object, so nothing stops both from leading: the hazard the migration lock removes.
    expect(annotation.isLeader() && lease.isLeader()).toBe(true);
    await Promise.all([annotation.stop(), lease.stop()]);
  });
});
