#!/usr/bin/env node
// Makes `npm run demo` and `npm test` work from a clean clone: installs the npm dependencies
// (including the pinned Node.js runtime, see README "Requirements") when node_modules is
// missing or older than the lockfile and manifests. Runs on whatever `node` npm found first,
// so it must stay plain JavaScript that Node 18+ understands. The scripts that follow it run
// through a nested `npm run`, whose fresh shell finds node_modules/.bin/node (Node 24): the
// first shell may already have remembered the system node.
import { execFileSync, execSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const stampPath = join(root, "node_modules", ".tenure-install-stamp");

function manifests() {
  const files = ["package.json", "package-lock.json"];
  for (const group of ["packages", "apps", "tests"]) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      const manifest = join(group, name, "package.json");
      if (existsSync(join(root, manifest))) files.push(manifest);
    }
  }
  return files;
}

function fingerprint() {
  const hash = createHash("sha256");
  for (const file of manifests()) {
    hash.update(file);
    hash.update(existsSync(join(root, file)) ? readFileSync(join(root, file)) : "");
  }
  return hash.digest("hex");
}

// A pack interrupted between its prepack and postpack leaves a package with its published manifest
// (no @tenure/source condition): put the development manifest back before anything reads it.
execFileSync(process.execPath, [join(root, "scripts", "pack-manifest.mjs"), "restore"], { stdio: "inherit" });

const wanted = fingerprint();
const current = existsSync(stampPath) ? readFileSync(stampPath, "utf8").trim() : "";
if (current !== wanted) {
  const command = existsSync(join(root, "package-lock.json")) ? "npm ci" : "npm install";
  process.stderr.write(`tenure: dependencies are missing or stale; running \`${command}\`\n`);
  execSync(`${command} --no-audit --no-fund`, { cwd: root, stdio: "inherit" });
  writeFileSync(stampPath, `${fingerprint()}\n`);
}
