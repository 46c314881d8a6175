import { defineProject } from "vitest/config";

export default defineProject({
  resolve: { conditions: ["@tenure/source"] },
  ssr: { resolve: { conditions: ["@tenure/source"] } },
  test: { name: "@tenure/example-handover", include: ["test/**/*.test.ts"] },
});
