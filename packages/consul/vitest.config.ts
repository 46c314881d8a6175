import type {} from "@tenure/testing/global-setup";
import { defineProject } from "vitest/config";

// The conformance suite runs on the harness's Consul dev agent (or TENURE_CONSUL_ADDR). The
// durability, cost and ACL tests start agents of their own (test/agent.ts) from the binary the
// harness built, because each needs a configuration the shared dev agent does not have.
export default defineProject({
  resolve: { conditions: ["@tenure/source"] },
  ssr: { resolve: { conditions: ["@tenure/source"] } },
  test: {
    name: "@tenure/consul",
    include: ["test/**/*.test.ts"],
    globalSetup: ["@tenure/testing/global-setup"],
    provide: { tenureServerNames: ["consul"] },
    testTimeout: 60_000,
    // A cold run builds Consul from source in the global setup.
    hookTimeout: 80 * 60_000,
  },
});
