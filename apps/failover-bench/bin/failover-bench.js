#!/usr/bin/env node
// Committed launcher, so npm can link the `failover-bench` command at install time, before the
// TypeScript is built (the root `prepare` script builds it right after).
import { existsSync } from "node:fs";

const entry = new URL("../dist/cli.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("failover-bench: not built yet; run `npm run build` in the repository root\n");
  process.exit(1);
}
await import(entry.href);
