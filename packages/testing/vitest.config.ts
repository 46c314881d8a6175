import { defineConfig } from "vitest/config";

// Starts every real server once for this project (a cold run builds them: allow the hook time),
// then runs the smoke tests against them.
export default defineConfig({
  test: {
    name: "@tenure/testing",
    include: ["test/**/*.test.ts"],
    globalSetup: ["./src/global-setup.ts"],
    provide: { tenureServerNames: ["kubernetes", "etcd", "consul", "redis", "toxiproxy"] },
    testTimeout: 60_000,
    hookTimeout: 80 * 60_000,
  },
});
