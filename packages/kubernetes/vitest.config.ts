import { defineProject } from "vitest/config";

// Every test file runs against one real kube-apiserver that the harness starts for this project
// (a cold machine builds it first: the hook timeout allows for that).
export default defineProject({
  resolve: { conditions: ["@tenure/source"] },
  ssr: { resolve: { conditions: ["@tenure/source"] } },
  test: {
    name: "@tenure/kubernetes",
    include: ["test/**/*.test.ts"],
    // Run by vitest.coordinated.config.ts, against a kube-apiserver with the feature gate on.
    exclude: ["test/coordinated/**"],
    globalSetup: ["@tenure/testing/global-setup"],
    provide: { tenureServerNames: ["kubernetes"] },
    // One file at a time: the election contract and the interop rounds measure real-time bounds,
    // which should not share the CPU with another file's electors.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 80 * 60_000,
  },
});
