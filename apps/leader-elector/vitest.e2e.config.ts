import { defineProject } from "vitest/config";

// End-to-end walkthrough on real servers, kept apart from the unit project so that one runs
// without servers. Starts every server the walkthrough uses through the harness.
export default defineProject({
  resolve: { conditions: ["@tenure/source"] },
  ssr: { resolve: { conditions: ["@tenure/source"] } },
  test: {
    name: "leader-elector:e2e",
    include: ["test/e2e/**/*.test.ts"],
    globalSetup: ["@tenure/testing/global-setup"],
    provide: { tenureServerNames: ["kubernetes", "etcd", "consul", "redis", "toxiproxy"] },
    hookTimeout: 80 * 60_000,
  },
});
