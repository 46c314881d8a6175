import { defineProject } from "vitest/config";

// The conformance, cost and permission tests share one non-durable Redis that the harness starts
// (or the one TENURE_REDIS_URL names); the durability and cost tests start private servers of their
// own, since they restart a server or read server-wide statistics.
export default defineProject({
  resolve: { conditions: ["@tenure/source"] },
  ssr: { resolve: { conditions: ["@tenure/source"] } },
  test: {
    name: "@tenure/redis",
    include: ["test/**/*.test.ts"],
    globalSetup: ["@tenure/testing/global-setup"],
    provide: { tenureServerNames: ["redis"] },
    testTimeout: 60_000,
    hookTimeout: 5 * 60_000,
  },
});
