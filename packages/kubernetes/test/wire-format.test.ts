// What a Tenure elector leaves in the apiserver, read as raw JSON (`kubectl get --raw`), checked
// against what client-go's types decode: the Lease spec's field names and MicroTime format, and the
// annotation's JSON. And the other direction: records in client-go's formats read back exactly.

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { nextEvent } from "@tenure/conformance";
import { type ElectionTiming, Elector } from "@tenure/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AnnotationLock, LeaseLock } from "../src/index.js";
import { Admin, kubectlCreate, kubernetesServer } from "./kube-helpers.js";

const run = promisify(execFile);
const server = kubernetesServer();
const admin = new Admin(server);
const kubectl = server.kubectl ?? "kubectl";
const timing: ElectionTiming = { leaseDurationMs: 2000, renewDeadlineMs: 1400, retryPeriodMs: 300 };
let namespace = "";
const electors: Elector[] = [];

beforeAll(async () => {
  namespace = await admin.freshNamespace("wire");
});
afterAll(async () => {
  await Promise.allSettled(electors.map((elector) => elector.stop({ release: false })));
});

/** `kubectl --kubeconfig <admin> <args>`, as an operator would run it. */
async function kubectlRun(...args: string[]): Promise<string> {
  const { stdout } = await run(kubectl, ["--kubeconfig", server.kubeconfig, ...args], { timeout: 30_000 });
  return stdout;
}

/** The object exactly as the apiserver serves it, not as a client library decodes it. */
async function rawJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await kubectlRun("get", "--raw", path)) as Record<string, unknown>;
}

/** Starts an elector and waits until it leads (its started-leading event). */
async function leader(store: LeaseLock | AnnotationLock, name: string, identity: string): Promise<Elector> {
  const elector = new Elector({ store, name, identity, ...timing });
  electors.push(elector);
  const started = nextEvent(
    [elector],
    (event) => event.type === "started-leading",
    10_000,
    `${identity} to lead`,
  );
  elector.start();
  await started;
  return elector;
}

/** metav1.MicroTime as the apiserver and client-go write and parse it: RFC 3339, UTC, 6 digits. */
const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

describe("wire format", () => {
  it("writes a Lease spec with client-go's field names, int32 numbers and 6-digit MicroTimes", async () => {
    const name = "wire-lease";
    const store = new LeaseLock({ kubeConfig: admin.config, namespace });
    const elector = await leader(store, name, "tenure-pod-1");
    const held = (await rawJson(`/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`))
      .spec as Record<string, unknown>;
    expect(Object.keys(held).sort()).toEqual([
      "acquireTime",
      "holderIdentity",
      "leaseDurationSeconds",
      "leaseTransitions",
      "renewTime",
    ]);
    expect(held.holderIdentity).toBe("tenure-pod-1");
    expect(held.leaseDurationSeconds).toBe(2);
    expect(held.leaseTransitions).toBe(elector.fencingToken());
    expect(held.acquireTime).toMatch(MICRO_TIME);
    expect(held.renewTime).toMatch(MICRO_TIME);

    await elector.stop({ release: true });
    const released = (await rawJson(`/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`))
      .spec as Record<string, unknown>;
    // client-go's release: an empty holder, the transition count kept, times still MicroTimes.
    expect(released.holderIdentity).toBe("");
    expect(released.leaseTransitions).toBe(held.leaseTransitions);
    expect(Number.isInteger(released.leaseDurationSeconds)).toBe(true);
    expect(released.renewTime).toMatch(MICRO_TIME);
    await store.close();
  });

  it("writes the leader annotation as client-go's JSON: its field order, whole-second RFC 3339 times", async () => {
    for (const objectKind of ["Endpoints", "ConfigMap"] as const) {
      const name = `wire-${objectKind.toLowerCase()}`;
      const store = new AnnotationLock({ objectKind, kubeConfig: admin.config, namespace });
      const elector = await leader(store, name, "tenure-pod-2");
      const resource = objectKind === "Endpoints" ? "endpoints" : "configmaps";
      const object = await rawJson(`/api/v1/namespaces/${namespace}/${resource}/${name}`);
      const annotations = (object.metadata as { annotations: Record<string, string> }).annotations;
      const value = annotations["control-plane.alpha.kubernetes.io/leader"];
      expect(value).toMatch(
        /^\{"holderIdentity":"tenure-pod-2","leaseDurationSeconds":2,"acquireTime":"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z","renewTime":"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z","leaderTransitions":\d+\}$/,
      );
      expect(JSON.parse(value ?? "").leaderTransitions).toBe(elector.fencingToken());
      await elector.stop({ release: true });
      await store.close();
    }
  });

  it("reads records in client-go's formats exactly, and keeps a client-go writer's microseconds", async () => {
    const name = "wire-from-client-go";
    // Exactly what client-go's LeaseLock writes (LeaderElectionRecordToLeaseSpec), microseconds
    // included, sent as raw JSON so no JavaScript client reformats the times.
    await kubectlCreate(server, {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name, namespace },
      spec: {
        holderIdentity: "go-candidate_7f3c",
        leaseDurationSeconds: 15,
        acquireTime: "2026-01-02T03:04:05.123456Z",
        renewTime: "2026-01-02T03:04:09.654321Z",
        leaseTransitions: 7,
      },
    });
    const store = new LeaseLock({ kubeConfig: admin.config, namespace });
    const read = await store.get(name);
    expect(read?.record).toEqual({
      holderIdentity: "go-candidate_7f3c",
      leaseDurationSeconds: 15,
      acquireTime: "2026-01-02T03:04:05.123456Z",
      renewTime: "2026-01-02T03:04:09.654321Z",
      leaderTransitions: 7,
    });
    if (read?.record == null) throw new Error("no record");
    await store.update(name, { ...read.record, renewTime: "2026-01-02T03:04:11.000001Z" }, read.version);
    const spec = (await rawJson(`/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`))
      .spec as Record<string, unknown>;
    expect(spec.acquireTime).toBe("2026-01-02T03:04:05.123456Z");
    expect(spec.renewTime).toBe("2026-01-02T03:04:11.000001Z");
    await store.close();

    // client-go's annotation JSON, as its Endpoints lock wrote it; a zero time is `null`.
    const annotated = "wire-annotation-from-client-go";
    await admin.core.createNamespacedEndpoints({
      namespace,
      body: {
        metadata: {
          name: annotated,
          namespace,
          annotations: {
            "control-plane.alpha.kubernetes.io/leader":
              '{"holderIdentity":"","leaseDurationSeconds":15,"acquireTime":null,"renewTime":"2026-01-02T03:04:06Z","leaderTransitions":3}',
          },
        },
      },
    });
    const annotationStore = new AnnotationLock({ kubeConfig: admin.config, namespace });
    expect((await annotationStore.get(annotated))?.record).toEqual({
      holderIdentity: "",
      leaseDurationSeconds: 15,
      acquireTime: "",
      renewTime: "2026-01-02T03:04:06Z",
      leaderTransitions: 3,
    });
    await annotationStore.close();
  });

  it("shows the lock to an operator: kubectl get lease -o yaml names the leader", async () => {
    const name = "operator-view";
    const store = new LeaseLock({ kubeConfig: admin.config, namespace });
    const elector = await leader(store, name, "tenure-operator-demo");
    const yaml = await kubectlRun("get", "lease", name, "--namespace", namespace, "--output", "yaml");
    console.info(`$ kubectl get lease ${name} -n ${namespace} -o yaml\n${yaml}`);
    expect(yaml).toMatch(/^ {2}holderIdentity: tenure-operator-demo$/m);
    expect(yaml).toMatch(/^ {2}leaseDurationSeconds: 2$/m);
    expect(yaml).toMatch(new RegExp(`^ {2}leaseTransitions: ${elector.fencingToken()}$`, "m"));
    expect(yaml).toMatch(/^ {2}renewTime: "\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z"$/m);
    await elector.stop({ release: true });
    await store.close();
  });
});
