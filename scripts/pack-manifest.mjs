#!/usr/bin/env node
// What `npm pack` and `npm publish` put in a public package's tarball, enforced from its `prepack`
// and `postpack` scripts (docs/releasing.md):
//
//   prepack   build the package and everything it depends on (turbo, cached), check that every
//             entry point the manifest names exists and that dist/ holds nothing stale, then replace
//             package.json with the published manifest: the in-repo `@tenure/source` export
//             condition, `scripts` and `devDependencies` removed. The development manifest is kept
//             byte for byte in `.package.json.prepack-backup` beside it.
//   postpack  put the development manifest back.
//   restore   (from the repository root) put back any development manifest a pack left behind when
//             it was interrupted between the two; scripts/bootstrap.mjs runs it before anything else.
//
// Plain JavaScript that Node 18+ understands, like bootstrap.mjs: npm may start it on any node.
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The export condition that points TypeScript, vitest and Node at src/ inside this repository only. */
export const SOURCE_CONDITION = "@tenure/source";
/** Where prepack keeps the development manifest until postpack (gitignored). */
export const BACKUP_NAME = ".package.json.prepack-backup";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Every workspace folder of the repository (packages/*, apps/*, tests/*), relative to the root. */
export function workspaceDirs() {
  const dirs = [];
  for (const group of ["packages", "apps", "tests"]) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base).sort()) {
      if (existsSync(join(base, name, "package.json"))) dirs.push(join(group, name));
    }
  }
  return dirs;
}

/** The public workspaces: the ones npm would publish. */
export function publicPackages() {
  return workspaceDirs()
    .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8")) }))
    .filter(({ manifest }) => manifest.private !== true);
}

function withoutSourceCondition(value) {
  if (Array.isArray(value)) return value.map(withoutSourceCondition);
  if (typeof value !== "object" || value === null) return value;
  const result = {};
  for (const [key, inner] of Object.entries(value)) {
    if (key !== SOURCE_CONDITION) result[key] = withoutSourceCondition(inner);
  }
  return result;
}

/** The manifest a published tarball carries, from the development manifest. */
export function publishedManifest(development) {
  const { scripts: _scripts, devDependencies: _devDependencies, ...rest } = development;
  return withoutSourceCondition(rest);
}

/** Every file path an exports map, `main`, `types` or `bin` names. */
export function entryPoints(manifest) {
  const found = new Set();
  const walk = (value) => {
    if (typeof value === "string") found.add(value);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (typeof value === "object" && value !== null) Object.values(value).forEach(walk);
  };
  walk(manifest.exports);
  walk(manifest.main);
  walk(manifest.types);
  walk(manifest.bin);
  return [...found];
}

function files(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

const OUTPUTS = /\.(?:d\.ts\.map|d\.ts|js\.map|js)$/;

/**
 * Files in dist/ that no source in src/ produces: tsc never deletes the output of a removed or
 * renamed source, and turbo's cache restores whatever dist/ held when it was stored. A stale module
 * could still be imported by path, so it must not ship.
 */
export function staleOutputs(packageDir) {
  const distDir = join(packageDir, "dist");
  return files(distDir).filter((file) => {
    const rel = relative(distDir, file);
    const stem = rel.replace(OUTPUTS, "");
    return stem !== rel && !existsSync(join(packageDir, "src", `${stem}.ts`));
  });
}

/**
 * Problems that would ship: an entry point that does not exist or points into src/, a source
 * condition left over, a file in dist/ that is not a compiler output or that no source produces.
 */
export function packProblems(packageDir, manifest) {
  const problems = [];
  if (JSON.stringify(manifest).includes(SOURCE_CONDITION)) {
    problems.push(`the manifest still names the ${SOURCE_CONDITION} condition`);
  }
  for (const entry of entryPoints(manifest)) {
    if (!existsSync(join(packageDir, entry)))
      problems.push(`${entry} (named by the manifest) does not exist`);
    if (/(^|\/)src\//.test(entry)) problems.push(`${entry}: an entry point must not point into src/`);
  }
  const distDir = join(packageDir, "dist");
  for (const file of files(distDir)) {
    const rel = relative(distDir, file);
    if (rel.replace(OUTPUTS, "") === rel) problems.push(`dist/${rel} is not a compiler output`);
  }
  for (const file of staleOutputs(packageDir)) {
    problems.push(`dist/${relative(distDir, file)} is stale: no source in src/ produces it`);
  }
  return problems;
}

function fail(message) {
  process.stderr.write(`tenure pack: ${message}\n`);
  process.exit(1);
}

/** Puts back a development manifest a pack left behind; true if there was one. */
export function restoreManifest(packageDir) {
  const backup = join(packageDir, BACKUP_NAME);
  if (!existsSync(backup)) return false;
  renameSync(backup, join(packageDir, "package.json"));
  return true;
}

/**
 * Runs `work` while holding a lock folder, so that packs running side by side (`changeset pack`
 * packs two at a time) never build the same dependency at once. A lock older than the longest
 * build is taken over: its holder died.
 */
function withBuildLock(work) {
  const lock = join(root, ".turbo", "tenure-pack.lock");
  mkdirSync(dirname(lock), { recursive: true });
  const deadline = Date.now() + 10 * 60_000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if (error.code !== "EEXIST") throw error;
      const age = Date.now() - statSync(lock, { throwIfNoEntry: false })?.mtimeMs;
      if (age > 10 * 60_000) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) fail(`another pack has held ${lock} for 10 minutes`);
      else Atomics.wait(pause, 0, 0, 200);
    }
  }
  try {
    return work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function prepack(packageDir) {
  if (restoreManifest(packageDir)) {
    process.stderr.write(`tenure pack: restored the development manifest an interrupted pack left\n`);
  }
  const development = readFileSync(join(packageDir, "package.json"), "utf8");
  const manifest = JSON.parse(development);
  if (manifest.private === true) fail(`${manifest.name} is private and is never packed`);
  // Build it and what it depends on: a tarball without a fresh dist/ would ship nothing runnable.
  const turbo = withBuildLock(() =>
    spawnSync(
      "turbo",
      ["run", "build", `--filter=${manifest.name}...`, "--output-logs=errors-only", "--log-prefix=none"],
      // turbo's report goes to stderr: `npm pack --json` (changeset pack) reads stdout as JSON.
      { cwd: root, stdio: ["ignore", 2, 2], shell: process.platform === "win32" },
    ),
  );
  if (turbo.error !== undefined) fail(`cannot run turbo (${turbo.error.message}); run \`npm ci\` first`);
  if (turbo.status !== 0) fail(`the build of ${manifest.name} failed`);
  // Outputs of sources that no longer exist: nothing of the package imports them (their source is
  // gone), so removing them is safe even while the repository's own programs run from dist/.
  for (const file of staleOutputs(packageDir)) {
    rmSync(file);
    process.stderr.write(`tenure pack: removed stale ${relative(packageDir, file)}\n`);
  }
  const published = publishedManifest(manifest);
  const problems = packProblems(packageDir, published);
  if (problems.length > 0) fail(`${manifest.name} cannot be packed:\n  ${problems.join("\n  ")}`);
  writeFileSync(join(packageDir, BACKUP_NAME), development);
  writeFileSync(join(packageDir, "package.json"), `${JSON.stringify(published, null, 2)}\n`);
}

function postpack(packageDir) {
  if (!restoreManifest(packageDir)) fail(`no ${BACKUP_NAME} in ${packageDir}: was prepack skipped?`);
}

/** Restores every leftover development manifest in the repository; returns the folders restored. */
export function restoreAll() {
  return workspaceDirs().filter((dir) => restoreManifest(join(root, dir)));
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const command = process.argv[2];
  if (command === "prepack") prepack(process.cwd());
  else if (command === "postpack") postpack(process.cwd());
  else if (command === "restore") {
    for (const dir of restoreAll())
      process.stderr.write(`tenure: restored ${dir}/package.json after an interrupted pack\n`);
  } else fail(`usage: pack-manifest.mjs prepack|postpack|restore (got ${command ?? "nothing"})`);
}
