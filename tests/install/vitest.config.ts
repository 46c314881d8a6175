import type {} from "@tenure/testing/global-setup";
import { defineProject } from "vitest/config";

// Packs every public package, installs the tarballs into an empty project outside the workspace
// and runs the README quick starts there against the harness's real servers (README.md). No
// `@tenure/source` condition here: nothing in this project may reach the workspace's sources.
export default defineProject({
  test: {
    name: "@tenure/install-test",
    include: ["test/**/*.test.ts"],
    globalSetup: ["@tenure/testing/global-setup"],
    provide: { tenureServerNames: ["kubernetes", "etcd", "consul", "redis"] },
    // One file, one consumer project, steps in order.
    fileParallelism: false,
    sequence: { concurrent: false },
    testTimeout: 120_000,
    // A cold run builds the servers in the global setup; packing and `npm install` run in beforeAll.
    hookTimeout: 80 * 60_000,
  },
});
