import { defineProject } from "vitest/config";

export default defineProject({
  resolve: { conditions: ["@tenure/source"] },
  ssr: { resolve: { conditions: ["@tenure/source"] } },
  test: { name: "@tenure/example-leader-aware", include: ["test/**/*.test.ts"] },
});
