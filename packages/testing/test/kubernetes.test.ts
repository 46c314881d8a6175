import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  ApiException,
  CoordinationV1Api,
  KubeConfig,
  type V1Lease,
  V1MicroTime,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type KubernetesServer, startServers, stopServers } from "../src/index.ts";

const run = promisify(execFile);

/** Runs the server's kubectl (or `kubectl` on PATH for an external server without TENURE_KUBECTL). */
function kubectl(server: KubernetesServer, args: readonly string[]): Promise<{ stdout: string }> {
  return run(server.kubectl ?? "kubectl", ["--kubeconfig", server.kubeconfig, ...args], { timeout: 30_000 });
}
const kubernetes = inject("tenureServers").servers.kubernetes;
if (kubernetes === undefined) throw new Error("the global setup did not provide kubernetes");
const namespace = "default";

function coordinationApi(kubeconfigPath: string): CoordinationV1Api {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  return config.makeApiClient(CoordinationV1Api);
}

function lease(name: string, holderIdentity: string): V1Lease {
  return {
    metadata: { name, namespace },
    spec: { holderIdentity, leaseDurationSeconds: 15, leaseTransitions: 0 },
  };
}

/** The HTTP status of a rejected Kubernetes API call. */
async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ApiException) return error.code;
    throw error;
  }
  throw new Error("the call succeeded");
}

describe("kube-apiserver", () => {
  const api = coordinationApi(kubernetes.kubeconfig);

  it("refuses a Lease replaced with a stale resourceVersion (409 Conflict)", async () => {
    const name = `smoke-cas-${Date.now()}`;
    const created = await api.createNamespacedLease({ namespace, body: lease(name, "first") });
    const staleVersion = created.metadata?.resourceVersion;
    if (staleVersion === undefined) throw new Error("the created Lease has no resourceVersion");
    expect(staleVersion).toMatch(/^\d+$/);

    const renewedLease = lease(name, "first");
    const renewed = await api.replaceNamespacedLease({
      name,
      namespace,
      body: {
        ...renewedLease,
        metadata: { name, namespace, resourceVersion: staleVersion },
        // A renewal, so the write is not a no-op. V1MicroTime, not a plain Date (which TypeScript
        // accepts): a Date is sent with 3 fractional digits and the apiserver requires exactly 6.
        spec: { ...renewedLease.spec, renewTime: new V1MicroTime() },
      },
    });
    expect(renewed.metadata?.resourceVersion).not.toBe(staleVersion);

    const stale = api.replaceNamespacedLease({
      name,
      namespace,
      body: { ...lease(name, "second"), metadata: { name, namespace, resourceVersion: staleVersion } },
    });
    expect(await statusOf(stale)).toBe(409);
    const current = await api.readNamespacedLease({ name, namespace });
    expect(current.spec?.holderIdentity).toBe("first");
  });

  it("shows the Lease to kubectl", async () => {
    const name = `smoke-kubectl-${Date.now()}`;
    await api.createNamespacedLease({ namespace, body: lease(name, "kubectl-holder") });
    const { stdout } = await kubectl(kubernetes, [
      "get",
      "lease",
      name,
      "--namespace",
      namespace,
      "--output",
      "json",
    ]);
    const shown = JSON.parse(stdout) as V1Lease;
    expect(shown.spec?.holderIdentity).toBe("kubectl-holder");
  });
});

// What the harness itself provides: a kubectl built from the same release, and token users. These
// need a kube-apiserver the harness started, so when TENURE_KUBECONFIG names another one, this
// block starts a private one (and stops it afterwards).
describe("kube-apiserver started by the harness", () => {
  let managed: KubernetesServer = kubernetes;
  let privateStateDir: string | undefined;

  beforeAll(async () => {
    if (!kubernetes.external) return;
    privateStateDir = mkdtempSync(join(tmpdir(), "tenure-kubernetes-"));
    const started = (await startServers(["kubernetes"], { stateDir: privateStateDir, env: {} })).servers
      .kubernetes;
    if (started === undefined) throw new Error("kubernetes did not start");
    managed = started;
  }, 10 * 60_000);

  afterAll(async () => {
    if (privateStateDir === undefined) return;
    await stopServers({ stateDir: privateStateDir });
    rmSync(privateStateDir, { recursive: true, force: true });
  });

  it("comes with a kubectl of the same version", async () => {
    expect(managed.kubectl).not.toBeNull();
    const { stdout } = await kubectl(managed, ["version", "--output", "json"]);
    const versions = JSON.parse(stdout) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    expect(versions.serverVersion.gitVersion).toBe(`v${managed.version}`);
    expect(versions.clientVersion.gitVersion).toBe(versions.serverVersion.gitVersion);
  });

  it("authenticates the token users, who have no permissions until a test grants them", async () => {
    expect(Object.keys(managed.users).sort()).toEqual(["tenure-elector", "tenure-readonly"]);
    for (const [userName, user] of Object.entries(managed.users)) {
      const { stdout } = await kubectl({ ...managed, kubeconfig: user.kubeconfig }, [
        "auth",
        "whoami",
        "--output",
        "json",
      ]);
      const review = JSON.parse(stdout) as { status: { userInfo: { username: string } } };
      expect(review.status.userInfo.username).toBe(userName);
      const userApi = coordinationApi(user.kubeconfig);
      expect(await statusOf(userApi.listNamespacedLease({ namespace }))).toBe(403);
    }
  });
});
