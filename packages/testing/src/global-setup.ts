// Vitest global setup: starts the real servers a test project lists, hands their endpoints to the
// tests through `inject("tenureServers")`, and stops them when the run ends.
//
//   // vitest.config.ts of a project
//   test: {
//     name: "@tenure/etcd",
//     globalSetup: ["@tenure/testing/global-setup"],
//     provide: { tenureServerNames: ["etcd"] },   // and optionally tenureServerOptions: { durable: true }
//     (or { coordinatedLeaderElection: true }: kube-apiserver with KEP-4355's gate and API on)
//   }
//
//   // a test
//   import { inject } from "vitest";
//   const etcd = inject("tenureServers").servers.etcd;
//
// A server given by a TENURE_* environment variable (docs/development.md) is used as is.
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { startServers, stopServers } from "./harness.ts";
import { defaultStateDir } from "./paths.ts";
import type { ServerName, ServersFile } from "./state.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Servers this project needs (set in its vitest config's `provide`). */
    tenureServerNames: ServerName[];
    /** Start options (set in its vitest config's `provide`). */
    tenureServerOptions: { durable?: boolean; coordinatedLeaderElection?: boolean };
    /** Where the servers run (set by this global setup). */
    tenureServers: ServersFile;
  }
}

/** State folder of a test project's servers: `.tenure/test-runs/<project>` at the repository root. */
export function testRunStateDir(projectName: string): string {
  return join(defaultStateDir, "test-runs", projectName.replace(/[^A-Za-z0-9._-]+/g, "_") || "default");
}

/**
 * Starts the servers named by the project's `provide.tenureServerNames` (fresh: anything a
 * previous, interrupted run left in the same state folder is stopped first), provides their
 * endpoints as `tenureServers`, and returns the teardown that stops them.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const provided = project.getProvidedContext();
  const names = provided.tenureServerNames;
  if (!Array.isArray(names) || names.length === 0) {
    throw new Error(
      `@tenure/testing/global-setup: project "${project.name}" lists no servers; set test.provide.tenureServerNames in its vitest config`,
    );
  }
  const stateDir = testRunStateDir(project.name);
  const servers = await startServers(names, {
    stateDir,
    fresh: true,
    durable: provided.tenureServerOptions?.durable === true,
    coordinatedLeaderElection: provided.tenureServerOptions?.coordinatedLeaderElection === true,
    log: (message) => console.error(`[${project.name}] servers: ${message}`),
  });
  project.provide("tenureServers", servers);
  return async () => {
    await stopServers({ stateDir });
  };
}
