import { defineProject } from "vitest/config";

// The container image test (test/image/): opt-in, run only through this config, never by `npm test`
// (the root config lists vitest.config.ts and vitest.e2e.config.ts only). It builds the image with
// image/build.sh (root, buildah, podman, mmdebstrap; minutes the first time) unless TENURE_IMAGE
// names one, and runs it against a Redis the harness starts.
//
//   npx vitest run --config apps/leader-elector/vitest.image.config.ts
export default defineProject({
  resolve: { conditions: ["@tenure/source"] },
  ssr: { resolve: { conditions: ["@tenure/source"] } },
  test: {
    name: "leader-elector:image",
    include: ["test/image/**/*.test.ts"],
    globalSetup: ["@tenure/testing/global-setup"],
    provide: { tenureServerNames: ["redis"] },
    hookTimeout: 30 * 60_000,
  },
});
