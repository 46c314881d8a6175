#!/usr/bin/env node
// Runs the campaign from its TypeScript sources (Node 24 strips the types, as for the test harness
// it drives); the packages it imports are used from their builds (`npm run build`).
await import(new URL("../src/cli.ts", import.meta.url).href);
