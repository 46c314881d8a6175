import { defineConfig } from "vitest/config";

// One root config; every workspace with tests is a project. `npx vitest --project @tenure/core` runs one.
export default defineConfig({
  test: {
    projects: [
      "packages/*/vitest.config.ts",
      "packages/*/vitest.coordinated.config.ts",
      "apps/*/vitest.config.ts",
      "apps/*/vitest.e2e.config.ts",
      "tests/*/vitest.config.ts",
      "examples/*/vitest.config.ts",
    ],
  },
});
