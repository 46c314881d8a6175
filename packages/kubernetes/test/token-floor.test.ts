// The fencing-token floor of a create (LockStore.create): a lock object deleted and created again
// carries a token above every resourceVersion the deleted object had, hence above every token it
// carried; where the object cannot carry the floor with room to spare (a Lease's int32), the token is
// kept and a warning says so, once per store.
import type { LeaderRecord, Logger } from "@tenure/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AnnotationLock, LeaseLock, MigrationLock } from "../src/index.js";
import { Admin, kubernetesServer } from "./kube-helpers.js";

const server = kubernetesServer();
const admin = new Admin(server);
let namespace = "";
const stores: { close(): Promise<void> }[] = [];

const record: LeaderRecord = {
  holderIdentity: "creator",
  leaseDurationSeconds: 15,
  acquireTime: "2026-01-02T03:04:05Z",
  renewTime: "2026-01-02T03:04:05Z",
  leaderTransitions: 0,
};

function warningsLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug() {}, info() {}, warn: (message) => warnings.push(message), error() {} };
}

function track<S extends { close(): Promise<void> }>(store: S): S {
  stores.push(store);
  return store;
}

beforeAll(async () => {
  namespace = await admin.freshNamespace("floor");
});
afterAll(async () => {
  await Promise.allSettled(stores.map((store) => store.close()));
});

describe("the token floor of a create", () => {
  for (const kind of ["Lease", "ConfigMap", "Endpoints"] as const) {
    it(`${kind}: a lock created again carries a token above every resourceVersion the deleted object had`, async () => {
      const store = track(
        kind === "Lease"
          ? new LeaseLock({ kubeConfig: admin.config, namespace })
          : new AnnotationLock({ objectKind: kind, kubeConfig: admin.config, namespace }),
      );
      const name = `floor-${kind.toLowerCase()}`;
      let snapshot = await store.create(name, record);
      const versions = [BigInt(snapshot.version)];
      // A term's token is at most the resourceVersion of the write that started it.
      expect(BigInt(snapshot.record?.leaderTransitions ?? -1)).toBeLessThanOrEqual(versions[0] ?? 0n);
      for (let term = 1; term <= 3; term++) {
        const token = (snapshot.record?.leaderTransitions ?? 0) + 1;
        snapshot = await store.update(name, { ...record, leaderTransitions: token }, snapshot.version);
        versions.push(BigInt(snapshot.version));
      }
      await admin.delete(kind, namespace, name);
      const again = await track(
        kind === "Lease"
          ? new LeaseLock({ kubeConfig: admin.config, namespace })
          : new AnnotationLock({ objectKind: kind, kubeConfig: admin.config, namespace }),
      ).create(name, record);
      const token = BigInt(again.record?.leaderTransitions ?? -1);
      for (const version of versions) expect(token).toBeGreaterThan(version);
      // ...and at most the resourceVersion of the write that started the term (the invariant the floor rests on).
      expect(token).toBeLessThanOrEqual(BigInt(again.version));
    });
  }

  it("raises a Lease's token only up to half the int32 range, so terms remain; above, keeps it and warns once per store", () => {
    const logger = warningsLogger();
    const lease = track(new LeaseLock({ kubeConfig: admin.config, namespace, logger }));
    expect(lease.maxFloor).toBe(2 ** 30 - 1);
    // Up to the limit, the floor is carried...
    expect(lease.raiseToken("big", record, 2n ** 30n - 1n).leaderTransitions).toBe(2 ** 30 - 1);
    expect(logger.warnings).toEqual([]);
    // ...above it, the token stays as asked, with one warning however often it happens.
    expect(lease.raiseToken("big", record, 2n ** 30n)).toBe(record);
    expect(lease.raiseToken("big", { ...record, leaderTransitions: 3 }, 2n ** 31n).leaderTransitions).toBe(3);
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]).toContain("spec.leaseTransitions");
    expect(logger.warnings[0]).toContain("2147483647");
    // The annotation record is a JSON number: the same floors fit.
    const annotation = track(
      new AnnotationLock({ objectKind: "ConfigMap", kubeConfig: admin.config, namespace }),
    );
    expect(annotation.raiseToken("big", record, 2n ** 31n).leaderTransitions).toBe(2 ** 31);
    // A token already above the floor is never lowered.
    expect(
      annotation.raiseToken("big", { ...record, leaderTransitions: 2 ** 40 }, 2n ** 31n).leaderTransitions,
    ).toBe(2 ** 40);
  });

  it("MigrationLock: both objects created again carry one token, above every version either had", async () => {
    const name = "floor-migration";
    const store = track(new MigrationLock({ kubeConfig: admin.config, namespace }));
    let snapshot = await store.create(name, record);
    for (let term = 1; term <= 2; term++) {
      const token = (snapshot.record?.leaderTransitions ?? 0) + 1;
      snapshot = await store.update(name, { ...record, leaderTransitions: token }, snapshot.version);
    }
    const [endpointsVersion, leaseVersion] = JSON.parse(snapshot.version) as [string, string];
    await admin.delete("Endpoints", namespace, name);
    await admin.delete("Lease", namespace, name);
    const again = await track(new MigrationLock({ kubeConfig: admin.config, namespace })).create(
      name,
      record,
    );
    const token = again.record?.leaderTransitions ?? -1;
    expect(BigInt(token)).toBeGreaterThan(BigInt(endpointsVersion));
    expect(BigInt(token)).toBeGreaterThan(BigInt(leaseVersion));
    // The two halves name the same term.
    const annotation = JSON.parse((await admin.annotation("Endpoints", namespace, name)) ?? "{}") as {
      leaderTransitions?: number;
    };
    expect(annotation.leaderTransitions).toBe(token);
    expect((await admin.lease(namespace, name))?.spec?.leaseTransitions).toBe(token);
  });
});
