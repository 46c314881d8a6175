#!/usr/bin/env node
// Stages the leader-elector sidecar's runtime for its container image: the built `dist` of the
// sidecar and of the workspace packages it depends on, and their production dependencies only.
//
//   node stage-app.mjs SRC OUT     (SRC: the repository, built; OUT: a new folder, becomes /app)
//
// OUT keeps the monorepo's layout (node_modules/@tenure/* link to packages/*), since that is the
// tree the tests ran on. It is a copy of the workspace reduced to the sidecar's packages, with
// their devDependencies removed, installed with `npm install --omit=dev` against the repository's
// own package-lock.json: npm keeps every locked version that still fits, so no version is resolved
// afresh; the script then checks that every installed package@version is one the lockfile has, and
// fails otherwise. SRC is only read. Run by the `build` stage of ../Dockerfile.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const [srcArg, outArg] = process.argv.slice(2);
if (srcArg === undefined || outArg === undefined) {
  process.stderr.write("usage: node stage-app.mjs SRC OUT\n");
  process.exit(2);
}
const src = resolve(srcArg);
const out = resolve(outArg);
/** The sidecar's workspace folder; its package name is read from there. */
const APP_DIR = "apps/leader-elector";

const readJson = (path) => JSON.parse(readFileSync(path, "utf8"));
const root = readJson(join(src, "package.json"));

// The image runs the Node.js that builds it: it must be the one the repository pins.
const pinned = root.devDependencies?.node;
if (pinned !== undefined && pinned !== process.versions.node && process.env.TENURE_IMAGE_ANY_NODE !== "1") {
  throw new Error(`Node ${process.versions.node} builds the image, the repository pins ${pinned}`);
}

// Workspace name -> folder, for the root package.json's `workspaces` (folders and `folder/*` globs).
const workspaces = new Map();
for (const pattern of root.workspaces) {
  const folders = pattern.endsWith("/*")
    ? readdirSync(join(src, pattern.slice(0, -2)))
        .sort()
        .map((name) => `${pattern.slice(0, -2)}/${name}`)
    : [pattern];
  for (const dir of folders) {
    const manifest = join(src, dir, "package.json");
    if (existsSync(manifest)) workspaces.set(readJson(manifest).name, dir);
  }
}
const APP = readJson(join(src, APP_DIR, "package.json")).name;

// The sidecar and, transitively, the workspace packages in its (production) dependencies.
const needed = [];
const visit = (name) => {
  if (needed.includes(name)) return;
  needed.push(name);
  const manifest = readJson(join(src, workspaces.get(name), "package.json"));
  for (const dep of Object.keys(manifest.dependencies ?? {})) if (workspaces.has(dep)) visit(dep);
};
visit(APP);
const dirs = needed.map((name) => workspaces.get(name));

if (existsSync(out) && readdirSync(out).length > 0) throw new Error(`${out} is not empty`);
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, "package.json"),
  `${JSON.stringify({ name: root.name, private: true, type: root.type, workspaces: dirs }, null, 2)}\n`,
);
cpSync(join(src, "package-lock.json"), join(out, "package-lock.json"));

for (const dir of dirs) {
  const manifest = readJson(join(src, dir, "package.json"));
  delete manifest.devDependencies;
  delete manifest.scripts;
  mkdirSync(join(out, dir), { recursive: true });
  writeFileSync(join(out, dir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  if (!existsSync(join(src, dir, "dist"))) throw new Error(`${dir} is not built (no dist/)`);
  // What runs: the compiled JavaScript and its source maps; not the declarations, not src/.
  cpSync(join(src, dir, "dist"), join(out, dir, "dist"), {
    recursive: true,
    filter: (path) => !/\.d\.ts(\.map)?$/.test(path),
  });
  if (existsSync(join(src, dir, "bin")))
    cpSync(join(src, dir, "bin"), join(out, dir, "bin"), { recursive: true });
}

execFileSync(
  "npm",
  [
    "install",
    "--omit=dev",
    "--ignore-scripts",
    "--no-audit",
    "--no-fund",
    "--prefer-offline",
    "--loglevel=warn",
  ],
  { cwd: out, stdio: "inherit" },
);

// Every installed package must be one the repository's lockfile pins, at that version.
const locked = new Set();
for (const [path, entry] of Object.entries(readJson(join(src, "package-lock.json")).packages)) {
  if (path.includes("node_modules/")) locked.add(`${path.replace(/^.*node_modules\//, "")}@${entry.version}`);
}
const installed = Object.entries(readJson(join(out, "package-lock.json")).packages).filter(
  ([path, entry]) => path.includes("node_modules/") && entry.link !== true,
);
const unlocked = installed
  .map(([path, entry]) => `${path.replace(/^.*node_modules\//, "")}@${entry.version}`)
  .filter((id) => !locked.has(id));
if (unlocked.length > 0) throw new Error(`not in the repository's package-lock.json: ${unlocked.join(", ")}`);

// Half of node_modules is TypeScript declarations, sources and source maps that nothing reads at
// run time (Node does not strip types under node_modules): removed. Workspace links are not followed.
let pruned = 0;
const prune = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) prune(path);
    else if (entry.isFile() && /(\.d\.[cm]?ts|\.[cm]?ts|\.map)$/.test(entry.name)) {
      rmSync(path);
      pruned++;
    }
  }
};
prune(join(out, "node_modules"));

// Every backend loads from the staged tree, and the command answers.
const appDir = join(out, APP_DIR);
execFileSync(
  process.execPath,
  [
    "--input-type=module",
    "-e",
    `for (const m of ${JSON.stringify(needed.filter((name) => name !== APP))}) await import(m);`,
  ],
  { cwd: appDir, stdio: "inherit" },
);
execFileSync(process.execPath, [join(appDir, "dist", "cli.js"), "--help"], { stdio: "ignore" });
process.stdout.write(
  `staged ${needed.join(", ")} and ${installed.length} locked dependencies (${pruned} declaration, source and map files removed) in ${out} (Node ${process.versions.node})\n`,
);
