// On the default kube-apiserver (Coordinated Leader Election off, as Kubernetes ships it): a
// LeaseCandidate reports the missing API clearly, and rejects options it cannot publish. The
// coordinator, and the Lease fields that only exist with the feature on, are tested in
// test/coordinated/ against an apiserver with the gate on.
import { TenureError } from "@tenure/core";
import { LeaseCandidate } from "@tenure/kubernetes";
import type {} from "@tenure/testing/global-setup";
import { describe, expect, it } from "vitest";
import { failure, kubernetesServer, loadKubeConfig } from "./kube-helpers.js";

const server = kubernetesServer();

describe("LeaseCandidate without the API", () => {
  it("start() rejects with UNSUPPORTED naming the gate and runtime-config to enable", async () => {
    const candidate = new LeaseCandidate({
      kubeConfig: loadKubeConfig(server.kubeconfig),
      leaseName: "absent-api",
      identity: "ts-1",
      binaryVersion: "1.36.0",
    });
    const error = await failure(candidate.start());
    expect(error.code).toBe("UNSUPPORTED");
    expect(error.message).toContain("coordination.k8s.io/v1beta1");
    expect(error.message).toContain("--feature-gates=CoordinatedLeaderElection=true");
    expect(error.message).toContain("--runtime-config=coordination.k8s.io/v1beta1=true");
    await candidate.stop({ remove: false });
  });

  it("rejects options it cannot publish, naming the field", () => {
    const base = { leaseName: "x", identity: "ts-1", binaryVersion: "1.36.0" };
    const config = loadKubeConfig(server.kubeconfig);
    const invalid = (options: Partial<typeof base> & { emulationVersion?: string }) => {
      try {
        new LeaseCandidate({ ...base, ...options, kubeConfig: config });
      } catch (error) {
        if (TenureError.is(error, "INVALID_ARGUMENT")) return error.message;
        throw error;
      }
      throw new Error("accepted");
    };
    expect(invalid({ identity: "Has_Upper" })).toContain("invalid identity");
    expect(invalid({ binaryVersion: "latest" })).toContain("invalid binaryVersion");
    expect(invalid({ emulationVersion: "" })).toContain("invalid emulationVersion");
  });
});
