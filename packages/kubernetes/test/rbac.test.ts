// Least privilege on the real apiserver (RBAC on): the example Role of examples/rbac.yaml, bound to
// the token user "tenure-elector", is all an elector needs; "tenure-readonly", allowed only to get
// and watch the Lease, is told PERMISSION_DENIED and never believes it leads. `list`, limited to the
// one Lease by resourceNames, lets a create raise the fencing token above a deleted Lease's; a Role
// from before that rule still works, with one warning. The sidecar's deploy/rbac.yaml is checked too.
import { readFileSync } from "node:fs";
import { nextEvent } from "@tenure/conformance";
import {
  type ElectionTiming,
  Elector,
  type ElectorEvent,
  type LeaderRecord,
  type Logger,
} from "@tenure/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaseLock } from "../src/index.js";
import { Admin, failure, kubectl, kubernetesServer, loadKubeConfig } from "./kube-helpers.js";

const server = kubernetesServer();
const admin = new Admin(server);
const timing: ElectionTiming = { leaseDurationMs: 2000, renewDeadlineMs: 1400, retryPeriodMs: 300 };
const election = "rbac-election";
/** A lock the read-only user may read but that does not exist: its elector would have to create it. */
const missing = "rbac-missing";
const exampleRbac = readFileSync(new URL("../examples/rbac.yaml", import.meta.url), "utf8");
/** The sidecar's manifest, the other Role users apply as shipped. */
const sidecarRbac = readFileSync(
  new URL("../../../apps/leader-elector/deploy/rbac.yaml", import.meta.url),
  "utf8",
);
const record: LeaderRecord = {
  holderIdentity: "rbac-creator",
  leaseDurationSeconds: 15,
  acquireTime: "2026-01-02T03:04:05Z",
  renewTime: "2026-01-02T03:04:05Z",
  leaderTransitions: 0,
};
let namespace = "";
const electors: Elector[] = [];
const stores: LeaseLock[] = [];

function user(name: string): string {
  const found = server.users[name];
  if (found === undefined) {
    throw new Error(`the harness provided no token user "${name}" (an external TENURE_KUBECONFIG has none)`);
  }
  return found.kubeconfig;
}

function storeAs(userName: string, inNamespace = namespace, logger?: Logger): LeaseLock {
  const store = new LeaseLock({
    kubeConfig: loadKubeConfig(user(userName)),
    namespace: inNamespace,
    ...(logger === undefined ? {} : { logger }),
  });
  stores.push(store);
  return store;
}

/** A logger that keeps its warnings. */
function warningsLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug() {}, info() {}, warn: (message) => warnings.push(message), error() {} };
}

/** `kubectl get --raw <path>` as `userName`: the answer, or the error text when refused. */
async function rawAs(userName: string, path: string): Promise<string> {
  return kubectl(server, user(userName), ["get", "--raw", path]).catch((error: Error) => error.message);
}

async function admin_(...args: string[]): Promise<string> {
  return kubectl(server, server.kubeconfig, args);
}

beforeAll(async () => {
  namespace = await admin.freshNamespace("rbac");
  // The example as shipped, for this namespace and election; then the same Role bound to the token
  // user the harness made (a ServiceAccount token would need a controller-manager to be issued).
  const manifest = exampleRbac
    .replaceAll("namespace: default", `namespace: ${namespace}`)
    .replaceAll("example-election", election);
  await kubectl(server, server.kubeconfig, ["apply", "-f", "-"], manifest);
  await admin_(
    "create",
    "rolebinding",
    "tenure-elector-user",
    "--role=tenure-elector",
    "--user=tenure-elector",
    "-n",
    namespace,
  );
  await admin_(
    "create",
    "role",
    "tenure-readonly",
    "--verb=get,watch",
    "--resource=leases.coordination.k8s.io",
    `--resource-name=${election}`,
    `--resource-name=${missing}`,
    "-n",
    namespace,
  );
  await admin_(
    "create",
    "rolebinding",
    "tenure-readonly",
    "--role=tenure-readonly",
    "--user=tenure-readonly",
    "-n",
    namespace,
  );
});

afterAll(async () => {
  await Promise.allSettled(electors.map((elector) => elector.stop({ release: false })));
  await Promise.allSettled(stores.map((store) => store.close()));
});

describe("least privilege", () => {
  it("the example Role is enough: its user leads, renews, is watched and releases", async () => {
    const store = storeAs("tenure-elector");
    const elector = new Elector({ store, name: election, identity: "rbac-leader", ...timing });
    electors.push(elector);
    const renewals: ElectorEvent[] = [];
    elector.subscribe((event) => {
      if (event.type === "renewed") renewals.push(event);
    });
    const started = nextEvent(
      [elector],
      (event) => event.type === "started-leading",
      15_000,
      "rbac-leader to lead",
    );
    elector.start();
    await started;
    await nextEvent([elector], () => renewals.length >= 3, 10_000, "three renewals");
    expect(elector.isLeader()).toBe(true);
    expect((await admin.lease(namespace, election))?.spec?.holderIdentity).toBe("rbac-leader");

    // watch with fieldSelector metadata.name is authorized by the Role's resourceNames.
    const abort = new AbortController();
    const watch = store.watch(election, abort.signal)[Symbol.asyncIterator]();
    const first = await watch.next();
    expect(first.done).toBe(false);
    expect(first.value?.record?.holderIdentity).toBe("rbac-leader");
    const next = await watch.next(); // the leader's next renewal
    expect(next.value?.record?.holderIdentity).toBe("rbac-leader");
    abort.abort();
    await watch.return?.();

    // Any other Lease is out of reach, and the message says what is missing.
    const denied = await failure(store.get("someone-elses-lock"));
    expect(denied.code).toBe("PERMISSION_DENIED");
    expect(denied.message).toContain(
      `cannot get leases.coordination.k8s.io "someone-elses-lock" in namespace "${namespace}"`,
    );

    await elector.stop({ release: true });
    expect((await admin.lease(namespace, election))?.spec?.holderIdentity).toBe("");
  });

  it("a user who may only get and watch gets PERMISSION_DENIED from create and update", async () => {
    const store = storeAs("tenure-readonly");
    const current = await store.get(election);
    if (current === null || current.record === null) throw new Error("the lock should exist, released");
    const update = await failure(
      store.update(
        election,
        { ...current.record, holderIdentity: "intruder", leaderTransitions: 9 },
        current.version,
      ),
    );
    expect(update.code).toBe("PERMISSION_DENIED");
    expect(update.message).toContain(
      `cannot update leases.coordination.k8s.io "${election}" in namespace "${namespace}"`,
    );
    const create = await failure(store.create(missing, { ...current.record, holderIdentity: "intruder" }));
    expect(create.code).toBe("PERMISSION_DENIED");
    expect(create.message).toContain(
      `cannot create leases.coordination.k8s.io "${missing}" in namespace "${namespace}"`,
    );
    expect((await admin.lease(namespace, election))?.spec?.holderIdentity).toBe("");
    expect(await admin.lease(namespace, missing)).toBeNull();
  });

  it("an elector without write permission never believes it leads", async () => {
    for (const name of [election, missing]) {
      const elector = new Elector({
        store: storeAs("tenure-readonly"),
        name,
        identity: "rbac-readonly",
        ...timing,
      });
      electors.push(elector);
      const events: ElectorEvent[] = [];
      elector.subscribe((event) => events.push(event));
      elector.start();
      // Three refused attempts to take the (free or missing) lock, each followed by a retry.
      await nextEvent(
        [elector],
        () =>
          events.filter((event) => event.type === "store-error" && event.error.code === "PERMISSION_DENIED")
            .length >= 3,
        15_000,
        "three PERMISSION_DENIED answers",
      );
      expect(elector.isLeader()).toBe(false);
      expect(events.some((event) => event.type === "started-leading")).toBe(false);
      await elector.stop();
    }
    expect((await admin.lease(namespace, election))?.spec?.holderIdentity).toBe("");
    expect(await admin.lease(namespace, missing)).toBeNull();
  });
});

describe("the fencing-token floor under RBAC", () => {
  /** Creates, deletes as an operator would, and creates again: the second token must be above the first's. */
  async function recreate(store: LeaseLock, inNamespace: string, name: string): Promise<[number, number]> {
    const first = await store.create(name, { ...record, leaderTransitions: 5 });
    const renewed = await store.update(name, { ...record, leaderTransitions: 6 }, first.version);
    await admin.delete("Lease", inNamespace, name);
    expect(await store.get(name)).toBeNull();
    const second = await store.create(name, { ...record, leaderTransitions: 0 });
    return [renewed.record?.leaderTransitions ?? -1, second.record?.leaderTransitions ?? -1];
  }

  it("list restricted by resourceNames is enough: a Lease created again carries a higher token, no warning", async () => {
    await admin.delete("Lease", namespace, election); // left by the cases above
    const logger = warningsLogger();
    const [before, after] = await recreate(storeAs("tenure-elector", namespace, logger), namespace, election);
    expect(after).toBeGreaterThan(before);
    expect((await admin.lease(namespace, election))?.spec?.leaseTransitions).toBe(after);
    expect(logger.warnings).toEqual([]);
    // The rule reaches the one Lease only: a list of the namespace, or of another name, is refused.
    const leases = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
    expect(await rawAs("tenure-elector", `${leases}?fieldSelector=metadata.name%3D${election}`)).toContain(
      '"kind":"LeaseList"',
    );
    expect(await rawAs("tenure-elector", leases)).toContain("Forbidden");
    expect(await rawAs("tenure-elector", `${leases}?fieldSelector=metadata.name%3Dsomeone-else`)).toContain(
      "Forbidden",
    );
  });

  it("a Role without list still creates, keeps the requested token, and warns once naming the missing rule", async () => {
    const old = await admin.freshNamespace("rbac-old");
    const manifest = exampleRbac
      .replaceAll("namespace: default", `namespace: ${old}`)
      .replaceAll("example-election", election)
      .replace('verbs: ["get", "list", "watch", "update"]', 'verbs: ["get", "watch", "update"]');
    expect(manifest).toContain('verbs: ["get", "watch", "update"]');
    await kubectl(server, server.kubeconfig, ["apply", "-f", "-"], manifest);
    await admin_(
      "create",
      "rolebinding",
      "old-role",
      "--role=tenure-elector",
      "--user=tenure-elector",
      "-n",
      old,
    );
    const logger = warningsLogger();
    const store = storeAs("tenure-elector", old, logger);
    const [, after] = await recreate(store, old, election);
    expect(after).toBe(0); // no floor could be read: the token stays as asked
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]).toContain(`cannot list leases.coordination.k8s.io in namespace "${old}"`);
    expect(logger.warnings[0]).toContain('Add "list" to the Role rule');
    expect(logger.warnings[0]).toContain(`resourceNames ["${election}"]`);
  });

  it("the sidecar's deploy/rbac.yaml grants the same: its Lease created again carries a higher token", async () => {
    const sidecar = await admin.freshNamespace("rbac-sidecar");
    const manifest = sidecarRbac.replaceAll("namespace: default", `namespace: ${sidecar}`);
    await kubectl(server, server.kubeconfig, ["apply", "-f", "-"], manifest);
    await admin_(
      "create",
      "rolebinding",
      "sidecar-user",
      "--role=leader-elector",
      "--user=tenure-elector",
      "-n",
      sidecar,
    );
    const logger = warningsLogger();
    // The Deployment runs `--election=example`, the name the Role's resourceNames carries.
    const [before, after] = await recreate(storeAs("tenure-elector", sidecar, logger), sidecar, "example");
    expect(after).toBeGreaterThan(before);
    expect(logger.warnings).toEqual([]);
  });
});

describe("shared watch under RBAC", () => {
  /** Writes `name`'s Lease as the admin (created when missing): the change every watch must report. */
  async function adminWrite(inNamespace: string, name: string, holderIdentity: string): Promise<string> {
    const writer = new LeaseLock({ kubeConfig: admin.config, namespace: inNamespace });
    stores.push(writer);
    const current = await writer.get(name);
    const written =
      current === null
        ? await writer.create(name, { ...record, holderIdentity })
        : await writer.update(name, { ...record, holderIdentity }, current.version);
    return written.version;
  }

  it("watch granted on the lock names only: the namespace watch is refused, the store watches per name and says so once", async () => {
    const logger = warningsLogger();
    const store = storeAs("tenure-elector", namespace, logger);
    const aborts = [new AbortController(), new AbortController()];
    try {
      // Two watches of the one Lease the Role names; the second does not ask for the namespace again.
      const streams = aborts.map((abort) => store.watch(election, abort.signal)[Symbol.asyncIterator]());
      for (const stream of streams) await stream.next();
      expect(store.sharingWatch).toBe(false);
      const version = await adminWrite(namespace, election, "per-name-writer");
      for (const stream of streams) {
        let seen = await stream.next();
        // A renewal still in flight from an earlier case may come first; the admin's write follows.
        while (seen.value?.version !== version) seen = await stream.next();
        expect(seen.value?.record?.holderIdentity).toBe("per-name-writer");
      }
      expect(logger.warnings).toHaveLength(1);
      expect(logger.warnings[0]).toContain(
        `refused a watch of all leases.coordination.k8s.io in namespace "${namespace}"`,
      );
    } finally {
      for (const abort of aborts) abort.abort();
    }
  });

  it("watch granted on the namespace's Leases: one shared stream, no warning", async () => {
    const shared = await admin.freshNamespace("rbac-shared-watch");
    await admin_(
      "create",
      "role",
      "namespace-watcher",
      "--verb=get,watch",
      "--resource=leases.coordination.k8s.io",
      "-n",
      shared,
    );
    await admin_(
      "create",
      "rolebinding",
      "namespace-watcher",
      "--role=namespace-watcher",
      "--user=tenure-readonly",
      "-n",
      shared,
    );
    const logger = warningsLogger();
    const store = storeAs("tenure-readonly", shared, logger);
    const abort = new AbortController();
    try {
      const names = ["watched-a", "watched-b"];
      const streams = names.map((name) => store.watch(name, abort.signal)[Symbol.asyncIterator]());
      for (const stream of streams) expect((await stream.next()).value).toBeNull();
      expect(store.sharingWatch).toBe(true);
      for (const [index, name] of names.entries()) {
        const version = await adminWrite(shared, name, `writer-${index}`);
        const seen = await streams[index]?.next();
        expect(seen?.value?.version).toBe(version);
      }
      expect(logger.warnings).toEqual([]);
    } finally {
      abort.abort();
    }
  });
});
