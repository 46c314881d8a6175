import { defineProject } from "vitest/config";

export default defineProject({
  resolve: { conditions: ["@tenure/source"] },
  ssr: { resolve: { conditions: ["@tenure/source"] } },
  test: { name: "failover-bench", include: ["test/**/*.test.ts"], testTimeout: 60_000 },
});
