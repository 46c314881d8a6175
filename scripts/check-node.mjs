#!/usr/bin/env node
// Fails early, with the reason, when npm scripts do not run on the pinned Node.js (README "Requirements").
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    `tenure: Node.js ${process.version} is too old (need >= 22.19). The repo pins Node 24 as the npm ` +
      "package `node`; run `npm ci` so node_modules/.bin/node exists, then use npm scripts.\n",
  );
  process.exit(1);
}
