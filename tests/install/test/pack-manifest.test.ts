// The rules scripts/pack-manifest.mjs applies in every public package's prepack and postpack, on
// folders of the test's own (the install test packs the real packages).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  BACKUP_NAME,
  type Manifest,
  packProblems,
  publishedManifest,
  restoreManifest,
  SOURCE_CONDITION,
  staleOutputs,
} from "../../../scripts/pack-manifest.mjs";

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "tenure-pack-manifest-"));
  folders.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const development: Manifest = {
  name: "@tenure/example",
  version: "1.2.3",
  type: "module",
  exports: {
    ".": { [SOURCE_CONDITION]: "./src/index.ts", types: "./dist/index.d.ts", default: "./dist/index.js" },
    "./testing": {
      [SOURCE_CONDITION]: "./src/testing/index.ts",
      types: "./dist/testing/index.d.ts",
      default: "./dist/testing/index.js",
    },
  },
  scripts: { build: "tsc", prepack: "node ../../scripts/pack-manifest.mjs prepack" },
  dependencies: { "@tenure/core": "1.2.3" },
  peerDependencies: { ioredis: "^5.0.0 || ^6.0.0" },
  devDependencies: { "@tenure/testing": "0.0.0" },
};

describe("the published manifest", () => {
  it("drops the source condition at every depth, the scripts and the devDependencies, and keeps the rest", () => {
    const published = publishedManifest(development);
    expect(JSON.stringify(published)).not.toContain(SOURCE_CONDITION);
    expect(published).toEqual({
      name: "@tenure/example",
      version: "1.2.3",
      type: "module",
      exports: {
        ".": { types: "./dist/index.d.ts", default: "./dist/index.js" },
        "./testing": { types: "./dist/testing/index.d.ts", default: "./dist/testing/index.js" },
      },
      dependencies: { "@tenure/core": "1.2.3" },
      peerDependencies: { ioredis: "^5.0.0 || ^6.0.0" },
    });
    // The development manifest is left as it was.
    expect(JSON.stringify(development)).toContain(SOURCE_CONDITION);
  });
});

describe("what may not ship", () => {
  const built = {
    "src/index.ts": "",
    "src/testing/index.ts": "",
    "dist/index.js": "",
    "dist/index.d.ts": "",
    "dist/testing/index.js": "",
    "dist/testing/index.d.ts": "",
  };

  it("accepts a package whose every entry point is built and whose dist/ matches src/", () => {
    expect(packProblems(folder(built), publishedManifest(development))).toEqual([]);
  });

  it("names a missing entry point, one into src/, a leftover condition, and outputs of deleted sources", () => {
    const dir = folder({
      ...built,
      "dist/removed.js": "",
      "dist/removed.d.ts.map": "",
      "dist/notes.txt": "",
    });
    rmSync(join(dir, "dist/testing/index.d.ts"));
    expect(
      staleOutputs(dir)
        .map((file) => file.slice(dir.length + 1))
        .sort(),
    ).toEqual(["dist/removed.d.ts.map", "dist/removed.js"]);
    const problems = packProblems(dir, {
      ...publishedManifest(development),
      bin: { example: "./src/cli.ts" },
      exports: { ".": { [SOURCE_CONDITION]: "./src/index.ts", default: "./dist/index.js" } },
    });
    expect(problems.join("\n")).toContain(`names the ${SOURCE_CONDITION} condition`);
    expect(problems.join("\n")).toContain("./src/cli.ts (named by the manifest) does not exist");
    expect(problems.join("\n")).toContain("./src/cli.ts: an entry point must not point into src/");
    expect(problems.join("\n")).toContain("dist/notes.txt is not a compiler output");
    expect(problems.join("\n")).toContain("dist/removed.js is stale");
  });
});

describe("an interrupted pack", () => {
  it("is undone byte for byte: restore puts the development manifest back and removes the backup", () => {
    const text = `${JSON.stringify(development, null, 2)}\n`;
    // What prepack leaves when the pack dies before postpack: the published manifest in place,
    // the development one beside it.
    const dir = folder({
      "package.json": `${JSON.stringify(publishedManifest(development), null, 2)}\n`,
      [BACKUP_NAME]: text,
    });
    expect(restoreManifest(dir)).toBe(true);
    expect(readFileSync(join(dir, "package.json"), "utf8")).toBe(text);
    expect(restoreManifest(dir)).toBe(false);
  });
});
