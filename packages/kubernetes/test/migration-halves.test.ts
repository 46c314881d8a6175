// What MigrationLock uses of its halves besides LockStore (MigrationHalf) is found by shape, not with
// instanceof: a half that is not a KubernetesObjectLock — a wrapper, a lock from another copy of this
// package — gets the half-write guard when it offers newestKnown, and one that does not is told, at
// construction, what the migration lock goes without.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AnnotationLock,
  KubernetesObjectLock,
  LeaseLock,
  type MigrationHalf,
  MigrationLock,
  UNKNOWN_LEADER,
} from "../src/index.js";
import { Admin, failure, kubernetesServer, recordingLogger, testRecord } from "./kube-helpers.js";

const server = kubernetesServer();
const admin = new Admin(server);
let namespace = "";
const stores: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  namespace = await admin.freshNamespace("halves");
});
afterAll(async () => {
  await Promise.allSettled(stores.map((store) => store.close()));
});

const record = testRecord({ holderIdentity: "migration-fleet" });

type HalfMember = Exclude<
  keyof MigrationHalf,
  "backend" | "capabilities" | "get" | "create" | "update" | "watch" | "close"
>;
const ALL_MEMBERS: readonly HalfMember[] = [
  "newestKnown",
  "assertWritable",
  "tokenFloor",
  "raiseToken",
  "createExactly",
];

/** A plain object in front of `lock` (not a KubernetesObjectLock), offering only `members` besides LockStore. */
function wrapped(lock: LeaseLock, members: readonly HalfMember[]): MigrationHalf {
  const extras: Required<Pick<MigrationHalf, HalfMember>> = {
    newestKnown: (name) => lock.newestKnown(name),
    assertWritable: (name, written) => lock.assertWritable(name, written),
    tokenFloor: (name, options) => lock.tokenFloor(name, options),
    raiseToken: (name, raised, floor) => lock.raiseToken(name, raised, floor),
    createExactly: (name, created, options) => lock.createExactly(name, created, options),
  };
  return {
    backend: lock.backend,
    capabilities: lock.capabilities,
    get: (name, options) => lock.get(name, options),
    create: (name, created, options) => lock.create(name, created, options),
    update: (name, updated, version, options) => lock.update(name, updated, version, options),
    watch: (name, signal) => lock.watch(name, signal),
    close: () => lock.close(),
    ...Object.fromEntries(members.map((member) => [member, extras[member]])),
  };
}

/**
 * A migration lock on a ConfigMap and a wrapped Lease. The lock is created, then the Lease moves on
 * through the same LeaseLock (as when this process's own watch or write saw a Lease fleet's write),
 * and the migration lock updates on the version it got from the create.
 */
async function staleUpdate(label: string, members: readonly HalfMember[]) {
  const name = `half-${label}`;
  const logger = recordingLogger();
  const lease = new LeaseLock({ kubeConfig: admin.config, namespace });
  const secondary = wrapped(lease, members);
  const primary = new AnnotationLock({ objectKind: "ConfigMap", kubeConfig: admin.config, namespace });
  const lock = new MigrationLock({ primary, secondary, logger });
  stores.push(lock);
  expect(secondary).not.toBeInstanceOf(KubernetesObjectLock);
  const created = await lock.create(name, record);
  const [configMapVersion, leaseVersion] = JSON.parse(created.version) as [string, string];
  const createdLeaseToken = (await admin.lease(namespace, name))?.spec?.leaseTransitions;
  await lease.update(name, { ...record, holderIdentity: "lease-fleet" }, leaseVersion);
  const renewal = { ...record, renewTime: "2026-01-02T03:04:09Z" };
  const error = await failure(lock.update(name, renewal, created.version));
  const configMap = await admin.core.readNamespacedConfigMap({ name, namespace });
  return { lock, logger, created, createdLeaseToken, error, configMapVersion, configMap };
}

describe("the halves of a migration lock, by shape", () => {
  it("the locks of this package offer every member of MigrationHalf", () => {
    const lease: Required<MigrationHalf> = new LeaseLock({ kubeConfig: admin.config, namespace });
    const annotation: Required<MigrationHalf> = new AnnotationLock({ kubeConfig: admin.config, namespace });
    for (const half of [lease, annotation]) {
      for (const member of ALL_MEMBERS) expect(typeof half[member], member).toBe("function");
    }
  });

  it("a half that offers newestKnown, without being a KubernetesObjectLock, gets the half-write guard", async () => {
    const { lock, logger, created, createdLeaseToken, error, configMapVersion, configMap } =
      await staleUpdate("guarded", ALL_MEMBERS);
    expect(logger.warnings).toEqual([]);
    // The token was raised once, for both halves (tokenFloor, raiseToken, createExactly by shape).
    const token = created.record?.leaderTransitions ?? 0;
    expect(token).toBeGreaterThan(1);
    expect(createdLeaseToken).toBe(token);
    // Refused before either object was touched: the ConfigMap is as the create left it.
    expect(error.code).toBe("CONFLICT");
    expect(configMap.metadata?.resourceVersion).toBe(configMapVersion);
    expect((await lock.get("half-guarded"))?.record?.holderIdentity).toBe(UNKNOWN_LEADER);
  });

  it("a half without newestKnown: a warning at construction says what is lost, and such a write lands half", async () => {
    const members = ALL_MEMBERS.filter((member) => member !== "newestKnown");
    const { lock, logger, error, configMapVersion, configMap } = await staleUpdate("unguarded", members);
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]?.message).toContain(
      "the secondary lock (kubernetes/lease) offers no newestKnown",
    );
    expect(logger.warnings[0]?.fields).toMatchObject({ half: "secondary", missing: ["newestKnown"] });
    // The documented fallback: the primary half was written, the Lease's compare-and-swap failed.
    expect(error.code).toBe("CONFLICT");
    expect(configMap.metadata?.resourceVersion).not.toBe(configMapVersion);
    // The halves disagree: nobody leads until the merged state has been unchanged for a lease.
    expect((await lock.get("half-unguarded"))?.record?.holderIdentity).toBe(UNKNOWN_LEADER);
  });

  it("a plain LockStore as a half works, with one warning naming every member it lacks", async () => {
    const logger = recordingLogger();
    const lease = new LeaseLock({ kubeConfig: admin.config, namespace });
    const lock = new MigrationLock({
      kubeConfig: admin.config,
      namespace,
      secondary: wrapped(lease, []),
      logger,
    });
    stores.push(lock);
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]?.fields).toMatchObject({ half: "secondary", missing: ALL_MEMBERS });
    const created = await lock.create("half-plain", record);
    // Without createExactly, the Lease's create raised the token again (to its own floor, above the
    // one the ConfigMap got): the merged record carries the larger.
    const annotation = JSON.parse((await admin.annotation("Endpoints", namespace, "half-plain")) ?? "{}");
    const leaseToken = (await admin.lease(namespace, "half-plain"))?.spec?.leaseTransitions ?? -1;
    expect(leaseToken).toBeGreaterThanOrEqual(annotation.leaderTransitions);
    expect(created.record).toMatchObject({
      holderIdentity: record.holderIdentity,
      leaderTransitions: leaseToken,
    });
    const renewed = await lock.update("half-plain", { ...record, leaderTransitions: 7 }, created.version);
    expect(renewed.record).toMatchObject({ holderIdentity: record.holderIdentity, leaderTransitions: 7 });
    // The default halves offer everything: no warning.
    const quiet = recordingLogger();
    stores.push(new MigrationLock({ kubeConfig: admin.config, namespace, logger: quiet }));
    expect(quiet.warnings).toEqual([]);
  });
});
