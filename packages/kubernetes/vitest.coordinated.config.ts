import { defineProject } from "vitest/config";

// Coordinated Leader Election (KEP-4355) against kube-apiserver's real coordinator. The feature is
// beta and off by default (1.33 to 1.36), so this project gets a kube-apiserver of its own, started
// with the CoordinatedLeaderElection gate and coordination.k8s.io/v1beta1 on; every other test keeps
// the default apiserver (vitest.config.ts), where the LeaseCandidate API is absent.
export default defineProject({
  resolve: { conditions: ["@tenure/source"] },
  ssr: { resolve: { conditions: ["@tenure/source"] } },
  test: {
    name: "@tenure/kubernetes-coordinated",
    include: ["test/coordinated/**/*.test.ts"],
    globalSetup: ["@tenure/testing/global-setup"],
    provide: {
      tenureServerNames: ["kubernetes"],
      tenureServerOptions: { coordinatedLeaderElection: true },
    },
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 80 * 60_000,
  },
});
