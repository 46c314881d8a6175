import { defineProject } from "vitest/config";

// The checker's unit tests need no server; the short seeded campaigns start their own private
// servers through the harness (each campaign owns its state folder, since it pauses and restarts them).
export default defineProject({
  resolve: { conditions: ["@tenure/source"] },
  ssr: { resolve: { conditions: ["@tenure/source"] } },
  test: {
    name: "fault-campaign",
    include: ["test/**/*.test.ts"],
    // A cold run builds the servers first.
    hookTimeout: 80 * 60_000,
    testTimeout: 10 * 60_000,
  },
});
