// Clients from another copy of @kubernetes/client-node: version 2.0.0 (the oldest the peer range
// `^2.0.0` admits; the workspace runs everything else on 2.0.1), installed by npm apart from the
// workspace, as a user's program with its own client would have it. Its ApiException is another
// class than the one this package resolves, so errors are recognised by shape: a 409 from it must
// still be CONFLICT (it used to come back as INTERNAL), a 403 PERMISSION_DENIED, a 404 on a read null.
import { randomBytes } from "node:crypto";
import * as workspaceClient from "@kubernetes/client-node";
import type { LeaderRecord, Snapshot } from "@tenure/core";
import { installNpmCopy } from "@tenure/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AnnotationLock, LeaseLock } from "../src/index.js";
import { Admin, failure, kubernetesServer } from "./kube-helpers.js";

/** The oldest @kubernetes/client-node of the peer range. */
const OLDEST_CLIENT = "@kubernetes/client-node@2.0.0";

type ClientModule = typeof workspaceClient;

const server = kubernetesServer();
const admin = new Admin(server);
let namespace = "";
let copy: ClientModule;
let copyVersion = "";
const locks: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  const installed = await installNpmCopy(OLDEST_CLIENT);
  copyVersion = installed.version;
  copy = await installed.import<ClientModule>();
  namespace = await admin.freshNamespace("copy");
}, 180_000);
afterAll(async () => {
  await Promise.allSettled(locks.map((lock) => lock.close()));
});

/** A KubeConfig of the other copy, from a kubeconfig file. */
function copyKubeConfig(path: string): workspaceClient.KubeConfig {
  const config = new copy.KubeConfig();
  config.loadFromFile(path);
  return config;
}

function record(overrides: Partial<LeaderRecord> = {}): LeaderRecord {
  return {
    holderIdentity: "a",
    leaseDurationSeconds: 15,
    acquireTime: "2026-01-02T03:04:05Z",
    renewTime: "2026-01-02T03:04:05Z",
    leaderTransitions: 0,
    ...overrides,
  };
}

function track<T extends { close(): Promise<void> }>(lock: T): T {
  locks.push(lock);
  return lock;
}

const name = (label: string): string => `${label}-${randomBytes(3).toString("hex")}`;

describe(`locks on a client of another @kubernetes/client-node copy (${OLDEST_CLIENT})`, () => {
  it("is a copy of 2.0.0 with classes of its own", () => {
    expect(copyVersion).toBe("2.0.0");
    expect(copy.ApiException).not.toBe(workspaceClient.ApiException);
    expect(copy.KubeConfig).not.toBe(workspaceClient.KubeConfig);
  });

  it("LeaseLock: a 404 is a missing lock, a 409 is CONFLICT, caused by the copy's ApiException", async () => {
    const client = copyKubeConfig(server.kubeconfig).makeApiClient(copy.CoordinationV1Api);
    // Two candidates on the one client, so each conflict is the apiserver's 409, not a local check.
    const first = track(new LeaseLock({ client, namespace }));
    const second = track(new LeaseLock({ client, namespace }));
    const election = name("lease");
    expect(await first.get(election)).toBeNull();
    const created = await first.create(election, record());
    const exists = await failure(second.create(election, record()));
    expect(exists.code).toBe("CONFLICT");
    expect(await second.get(election)).toEqual(created);
    const updated = await first.update(election, record({ holderIdentity: "b" }), created.version);
    const stale = await failure(second.update(election, record(), created.version));
    expect(stale.code).toBe("CONFLICT");
    for (const conflict of [exists, stale]) {
      // The 409 came from the copy: not an instance of the ApiException this package resolves.
      expect(conflict.cause).toBeInstanceOf(copy.ApiException);
      expect(conflict.cause).not.toBeInstanceOf(workspaceClient.ApiException);
      expect((conflict.cause as { code?: unknown }).code).toBe(409);
    }
    expect(await second.get(election)).toEqual(updated);
  });

  it("AnnotationLock on Endpoints: the apiserver's 409 through the copy is CONFLICT", async () => {
    const client = copyKubeConfig(server.kubeconfig).makeApiClient(copy.CoreV1Api);
    const first = track(new AnnotationLock({ client, namespace, objectKind: "Endpoints" }));
    const second = track(new AnnotationLock({ client, namespace, objectKind: "Endpoints" }));
    const election = name("endpoints");
    const created = await first.create(election, record());
    expect(await second.get(election)).toEqual(created);
    await first.update(election, record({ holderIdentity: "b" }), created.version);
    const stale = await failure(second.update(election, record(), created.version));
    expect(stale.code).toBe("CONFLICT");
    expect((stale.cause as { code?: unknown }).code).toBe(409);
  });

  it("a 403 from the copy is PERMISSION_DENIED naming the verb and resource", async () => {
    const user = server.users["tenure-elector"];
    if (user === undefined) throw new Error("the harness provided no tenure-elector user");
    const client = copyKubeConfig(user.kubeconfig).makeApiClient(copy.CoordinationV1Api);
    const lock = track(new LeaseLock({ client, namespace }));
    const denied = await failure(lock.get(name("denied")));
    expect(denied.code).toBe("PERMISSION_DENIED");
    expect(denied.message).toContain("leases.coordination.k8s.io");
    expect((denied.cause as { code?: unknown }).code).toBe(403);
  });

  it("a KubeConfig of the copy (no client) opens the lock, and its watch sees a release", async () => {
    const lock = track(new LeaseLock({ kubeConfig: copyKubeConfig(server.kubeconfig), namespace }));
    const writer = track(new LeaseLock({ kubeConfig: admin.config, namespace }));
    const election = name("watch");
    const abort = new AbortController();
    const stream = lock.watch(election, abort.signal)[Symbol.asyncIterator]();
    try {
      expect((await stream.next()).value).toBeNull();
      const created = await writer.create(election, record());
      expect(((await stream.next()).value as Snapshot | null)?.version).toBe(created.version);
      await writer.update(election, record({ holderIdentity: "" }), created.version);
      expect(((await stream.next()).value as Snapshot | null)?.record?.holderIdentity).toBe("");
    } finally {
      abort.abort();
      await stream.return?.();
    }
  });
});
