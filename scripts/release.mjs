#!/usr/bin/env node
// The release of the public packages (docs/releasing.md):
//
//   node scripts/release.mjs pack      build, pack every package changesets would publish into
//                                      .tenure/release/ (each through its prepack), and check every
//                                      tarball (publint, attw, this project's rules)
//   node scripts/release.mjs publish   the same, then publish exactly those tarballs to npm and tag
//                                      the release in git (changeset publish --from-pack-dir)
//
// Run after `npx changeset version` has set the versions and written the changelogs, and that
// commit is in. Publishing needs npm credentials with rights on the @tenure scope.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkTarball } from "./check-tarball.mjs";
import { restoreAll } from "./pack-manifest.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, ".tenure", "release");
const bin = (name) => join(root, "node_modules", ".bin", name);

function step(title, command, args) {
  process.stderr.write(`release: ${title}\n`);
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit" });
  if (result.error !== undefined) throw result.error;
  if (result.status !== 0) {
    process.stderr.write(`release: ${title} failed (exit ${result.status})\n`);
    process.exit(1);
  }
}

async function pack() {
  restoreAll();
  rmSync(outDir, { recursive: true, force: true });
  step("build every package", bin("turbo"), ["run", "build", "--output-logs=errors-only"]);
  step("pack what changesets would publish", bin("changeset"), ["pack", "--out-dir", outDir]);
  const packagesDir = join(outDir, "packages");
  const tarballs = existsSync(packagesDir)
    ? readdirSync(packagesDir).filter((name) => name.endsWith(".tgz"))
    : [];
  if (tarballs.length === 0) {
    process.stderr.write("release: nothing to publish (every version is on the registry already)\n");
    return false;
  }
  let problems = 0;
  for (const tarball of tarballs.sort()) {
    const found = await checkTarball(join(packagesDir, tarball));
    problems += found.length;
    process.stderr.write(`release: ${tarball}: ${found.length === 0 ? "ok" : `\n  ${found.join("\n  ")}`}\n`);
  }
  if (problems > 0) {
    process.stderr.write(`release: ${problems} problem(s): nothing published\n`);
    process.exit(1);
  }
  return true;
}

const command = process.argv[2];
if (command === "pack") {
  await pack();
} else if (command === "publish") {
  if (await pack()) {
    // The registry gets the tarballs that were just checked, manifests included (a publish from a
    // package folder would re-read the development manifest for the registry's metadata).
    step("publish the checked tarballs and tag the release", bin("changeset"), [
      "publish",
      "--from-pack-dir",
      outDir,
    ]);
  }
} else {
  process.stderr.write("usage: node scripts/release.mjs pack|publish\n");
  process.exit(2);
}
