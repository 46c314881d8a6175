import { defineProject } from "vitest/config";

export default defineProject({
  resolve: { conditions: ["@tenure/source"] },
  ssr: { resolve: { conditions: ["@tenure/source"] } },
  test: {
    name: "@tenure/etcd",
    include: ["test/**/*.test.ts"],
    // The shared etcd for the conformance suite (TENURE_ETCD_ENDPOINTS points at an existing one).
    // It skips fsync: the suite checks semantics, which fsync does not change, with sub-second
    // timings that a busy shared disk could otherwise break. Durability is tested on a private
    // etcd with fsync on (test/durability.test.ts); the cost, auth and TLS tests start their own too.
    globalSetup: ["@tenure/testing/global-setup"],
    provide: { tenureServerNames: ["etcd"] },
    // One file at a time: the election contract measures real-time bounds, and the cost test
    // reads server-wide counters; neither should share two CPU cores with another file.
    fileParallelism: false,
    testTimeout: 30_000,
    // The global setup (which may build etcd from source) has no time limit; test-file hooks that
    // start a private etcd pass their own, longer limit (support.ts), so a hung cleanup fails fast.
    hookTimeout: 60_000,
  },
});
