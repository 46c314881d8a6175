import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type {} from "@tenure/testing/global-setup";
import { describe, expect, inject, it } from "vitest";

const run = promisify(execFile);
const DEPLOY = fileURLToPath(new URL("../../deploy/", import.meta.url));

describe("Kubernetes manifests", () => {
  it("pass a server-side dry run against the real kube-apiserver", async () => {
    const server = inject("tenureServers").servers.kubernetes;
    if (server === undefined || server.kubectl === null)
      throw new Error("the harness did not start kubernetes with kubectl");
    const { stdout } = await run(server.kubectl, [
      `--kubeconfig=${server.kubeconfig}`,
      "apply",
      "--dry-run=server",
      "-f",
      DEPLOY,
    ]);
    expect(stdout).toContain("serviceaccount/leader-elector created (server dry run)");
    expect(stdout).toContain("role.rbac.authorization.k8s.io/leader-elector created (server dry run)");
    expect(stdout).toContain("rolebinding.rbac.authorization.k8s.io/leader-elector created (server dry run)");
    expect(stdout).toContain("deployment.apps/example created (server dry run)");
  }, 30_000);
});
