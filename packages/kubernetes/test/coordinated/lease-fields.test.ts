// Lease fields that only exist with Coordinated Leader Election on (kube-apiserver drops
// spec.strategy and spec.preferredHolder from writes while the CoordinatedLeaderElection gate is off,
// so these run on this project's apiserver, where it is on): the Lease lock keeps them, and labels
// and annotations, on every write; and an Elector with yieldToPreferredHolder hands the Lease over
// when spec.preferredHolder names another candidate, while one without it keeps leading.
import type { V1Lease } from "@kubernetes/client-node";
import { Elector, type ElectorEvent } from "@tenure/core";
import { LeaseLock } from "@tenure/kubernetes";
import type {} from "@tenure/testing/global-setup";
import { beforeAll, describe, expect, it } from "vitest";
import { Admin, kubernetesServer, loadKubeConfig, testRecord } from "../kube-helpers.js";
import { LeaseWireLog } from "../support/lease-wire-log.js";

const server = kubernetesServer();
const admin = new Admin(server);
const timing = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 } as const;

/** The next event of `elector` that `predicate` accepts; rejects after `timeoutMs`. */
function nextEvent(
  elector: Elector,
  predicate: (event: ElectorEvent) => boolean,
  timeoutMs: number,
): Promise<ElectorEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`no such elector event within ${timeoutMs} ms`));
    }, timeoutMs);
    const unsubscribe = elector.subscribe((event) => {
      if (!predicate(event)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(event);
    });
  });
}

describe("Lease fields the engine does not own", () => {
  let namespace = "";
  beforeAll(async () => {
    namespace = await admin.freshNamespace("lease-fields");
  });

  it("survive acquire, renew and release; preferredHolder goes only once that candidate holds the Lease", async () => {
    const name = "kept-fields";
    await admin.coordination.createNamespacedLease({
      namespace,
      body: {
        metadata: { name, labels: { team: "reports" }, annotations: { "example.com/owner": "ops" } },
        spec: {
          holderIdentity: "",
          leaseDurationSeconds: 1,
          leaseTransitions: 4,
          strategy: "OldestEmulationVersion",
          preferredHolder: "ts-b",
        },
      },
    });
    const lock = new LeaseLock({ namespace, kubeConfig: loadKubeConfig(server.kubeconfig) });
    const kept = (lease: V1Lease | null) => ({
      labels: lease?.metadata?.labels,
      annotations: lease?.metadata?.annotations,
      strategy: lease?.spec?.strategy,
      preferredHolder: lease?.spec?.preferredHolder,
    });
    const expected = {
      labels: { team: "reports" },
      annotations: { "example.com/owner": "ops" },
      strategy: "OldestEmulationVersion",
      preferredHolder: "ts-b",
    };
    const initial = await lock.get(name);
    if (initial === null) throw new Error("the Lease is missing");
    expect(initial.preferredHolder).toBe("ts-b");

    const acquired = await lock.update(
      name,
      testRecord({ holderIdentity: "ts-a", leaderTransitions: 5 }),
      initial.version,
    );
    expect(kept(await admin.lease(namespace, name))).toEqual(expected);
    expect(acquired.preferredHolder).toBe("ts-b");
    const renewed = await lock.update(
      name,
      testRecord({ holderIdentity: "ts-a", leaderTransitions: 5 }),
      acquired.version,
    );
    expect(kept(await admin.lease(namespace, name))).toEqual(expected);
    const released = await lock.update(
      name,
      testRecord({ holderIdentity: "", leaseDurationSeconds: 1, leaderTransitions: 5 }),
      renewed.version,
    );
    expect(kept(await admin.lease(namespace, name))).toEqual(expected);

    // The preferred candidate takes it: the request is fulfilled and removed, the rest stays.
    const fulfilled = await lock.update(
      name,
      testRecord({ holderIdentity: "ts-b", leaderTransitions: 6 }),
      released.version,
    );
    expect(fulfilled.preferredHolder).toBeUndefined();
    expect(kept(await admin.lease(namespace, name))).toEqual({ ...expected, preferredHolder: undefined });
    await lock.close();
  });

  it("a leader with yieldToPreferredHolder releases at once when another is preferred; one without keeps leading", async () => {
    const config = loadKubeConfig(server.kubeconfig);
    for (const yieldToPreferredHolder of [true, false]) {
      const name = `yield-${String(yieldToPreferredHolder)}`;
      const lock = new LeaseLock({ namespace, kubeConfig: config });
      const elector = new Elector({ store: lock, name, identity: "ts-a", yieldToPreferredHolder, ...timing });
      const started = nextEvent(elector, (event) => event.type === "started-leading", 20_000);
      elector.start();
      await started;
      const wire = await LeaseWireLog.start(admin.config, namespace, name, (error) => {
        throw error;
      });
      const lease = await admin.lease(namespace, name);
      if (lease?.spec === undefined) throw new Error("the Lease is missing");
      const outcome = nextEvent(
        elector,
        (event) =>
          event.type === "stopped-leading" ||
          (event.type === "renewed" && !yieldToPreferredHolder && wire.versions.length >= 4),
        20_000,
      );
      const askedAtNs = process.hrtime.bigint();
      await admin.coordination.replaceNamespacedLease({
        name,
        namespace,
        // The apiserver accepts preferredHolder only beside a strategy.
        body: {
          ...lease,
          spec: { ...lease.spec, strategy: "OldestEmulationVersion", preferredHolder: "ts-b" },
        },
      });
      const event = await outcome;
      if (yieldToPreferredHolder) {
        expect(event).toMatchObject({ type: "stopped-leading", reason: "yielded" });
        await wire.waitFor("the release", (versions) => versions.at(-1)?.spec.holderIdentity === "", 10_000);
        const release = wire.versions.at(-1);
        // At once: well within one retry period (500 ms) plus two round trips of the request.
        expect(Number((release?.arrivedNs ?? 0n) - askedAtNs) / 1e6).toBeLessThan(1000);
        expect(release?.spec.preferredHolder).toBe("ts-b");
        expect(elector.isLeader()).toBe(false);
      } else {
        expect(event.type).toBe("renewed");
        expect(elector.isLeader()).toBe(true);
        expect((await admin.lease(namespace, name))?.spec?.preferredHolder).toBe("ts-b");
      }
      wire.stop();
      await elector.stop();
      await lock.close();
    }
  });
});
