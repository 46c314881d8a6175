// Checks one packed tarball of a public package the way a registry's user would meet it: publint
// (package.json against the files shipped), Are The Types Wrong (type resolution, ESM-only profile:
// see docs/releasing.md, "CommonJS"), and this project's own rules for a published manifest. Used by
// the install test (tests/install) and by the release script (scripts/release.mjs) on the very
// tarballs they install or publish. Plain JavaScript, Node 22+.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "package.json"));
const SOURCE_CONDITION = "@tenure/source";

/** The files of a .tgz (npm's ustar layout), as a map from path (without `package/`) to contents. */
export function readTarball(file) {
  const data = gunzipSync(readFileSync(file));
  const files = new Map();
  let offset = 0;
  let longName;
  while (offset + 512 <= data.length) {
    const header = data.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const field = (start, length) =>
      header
        .subarray(start, start + length)
        .toString("utf8")
        .replace(/\0.*$/s, "");
    const size = Number.parseInt(field(124, 12).trim() || "0", 8);
    const type = field(156, 1);
    const prefix = field(345, 155);
    let name = longName ?? (prefix === "" ? field(0, 100) : `${prefix}/${field(0, 100)}`);
    longName = undefined;
    const body = data.subarray(offset + 512, offset + 512 + size);
    if (type === "L") longName = body.toString("utf8").replace(/\0.*$/s, "");
    else if (type === "0" || type === "") {
      name = name.replace(/^package\//, "");
      files.set(name, body);
    }
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

/** This project's rules for what a published package carries. */
export function manifestProblems(files) {
  const problems = [];
  const raw = files.get("package.json");
  if (raw === undefined) return ["no package.json"];
  const text = raw.toString("utf8");
  const manifest = JSON.parse(text);
  const required = [
    "name",
    "version",
    "description",
    "license",
    "repository",
    "engines",
    "files",
    "keywords",
  ];
  for (const field of required)
    if (manifest[field] === undefined) problems.push(`package.json has no ${field}`);
  if (text.includes(SOURCE_CONDITION))
    problems.push(`package.json still names the ${SOURCE_CONDITION} condition`);
  if (manifest.private === true) problems.push("package.json is private");
  if (manifest.license !== "Apache-2.0") problems.push(`license is ${manifest.license}, not Apache-2.0`);
  if (manifest.type !== "module") problems.push('type is not "module"');
  if (manifest.publishConfig?.access !== "public") problems.push("publishConfig.access is not public");
  if (typeof manifest.repository?.directory !== "string") problems.push("repository has no directory");
  if (manifest.engines?.node !== ">=22.19") problems.push(`engines.node is ${manifest.engines?.node}`);
  if (manifest.scripts !== undefined)
    problems.push("package.json ships scripts (prepack and postpack would run)");
  if (manifest.devDependencies !== undefined) problems.push("package.json ships devDependencies");
  const license = files.get("LICENSE")?.toString("utf8") ?? "";
  if (!license.includes("Apache License") || !license.includes("END OF TERMS AND CONDITIONS")) {
    problems.push("LICENSE is missing or not the full Apache-2.0 text");
  }
  for (const name of ["README.md", "CHANGELOG.md"]) if (!files.has(name)) problems.push(`${name} is missing`);
  if (!(files.get("CHANGELOG.md")?.toString("utf8") ?? "").includes(`## ${manifest.version}`)) {
    problems.push(`CHANGELOG.md has no entry for ${manifest.version}`);
  }
  for (const name of files.keys()) {
    if (/(^|\/)(test|tests|__tests__)\//.test(name) || /\.test\.[cm]?[jt]s$/.test(name)) {
      problems.push(`${name}: tests are not shipped`);
    }
    if (/^src\/.*\.[cm]?js$/.test(name)) problems.push(`${name}: compiled output outside dist/`);
  }
  if (![...files.keys()].some((name) => name.startsWith("dist/") && name.endsWith(".d.ts"))) {
    problems.push("dist/ holds no type declarations");
  }
  return problems;
}

/** publint's findings (strict: warnings count), as readable lines. */
export async function publintProblems(file) {
  const { publint } = await import(require.resolve("publint"));
  const { formatMessage } = await import(require.resolve("publint/utils"));
  const data = readFileSync(file);
  const tarball = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  const { messages, pkg } = await publint({ pack: { tarball }, level: "suggestion", strict: true });
  return messages.map((message) => `publint ${message.type} ${message.code}: ${formatMessage(message, pkg)}`);
}

/**
 * Are The Types Wrong, ESM-only profile: every entry point must resolve to its types under
 * `moduleResolution` node16/nodenext (ESM) and bundler. The profile leaves out resolving from
 * CommonJS, which attw's TypeScript (5.6) models without require(esm); TypeScript 5.8 and later
 * type-check `require()` of these ES modules under `module: nodenext`, which the install test runs.
 */
export async function attwProblems(file) {
  const manifest = require.resolve("@arethetypeswrong/cli/package.json");
  const bin = JSON.parse(readFileSync(manifest, "utf8")).bin;
  const cli = join(dirname(manifest), typeof bin === "string" ? bin : bin.attw);
  try {
    await run(process.execPath, [cli, file, "--profile", "esm-only", "--format", "ascii", "--no-color"], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return [];
  } catch (error) {
    const output = `${error.stdout ?? ""}${error.stderr ?? ""}`.trim();
    return [`attw: ${output === "" ? String(error) : output}`];
  }
}

/** Every problem found in one tarball (empty: ready to publish). */
export async function checkTarball(file) {
  const files = readTarball(file);
  const [lint, types] = await Promise.all([publintProblems(file), attwProblems(file)]);
  return [...manifestProblems(files), ...lint, ...types];
}
