import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A package installed by npm into a folder of its own, outside the workspace. */
export interface NpmCopy {
  /** The package's name, as installed. */
  readonly name: string;
  /** The version npm installed. */
  readonly version: string;
  /** The folder holding `node_modules/<name>`. */
  readonly dir: string;
  /** Imports the package (its main entry, or `subpath`) from that folder: a module instance of its own. */
  import<T = Record<string, unknown>>(subpath?: string): Promise<T>;
}

/** `ioredis@5.0.0` → `ioredis`, `@kubernetes/client-node@2.0.0` → `@kubernetes/client-node`. */
function packageName(spec: string): string {
  const at = spec.indexOf("@", 1);
  return at === -1 ? spec : spec.slice(0, at);
}

/**
 * Installs `spec` (`ioredis@5`, `@kubernetes/client-node@2.0.0`) with npm into a folder under the
 * system's temporary directory and returns a handle on it. The copy shares no module instance with
 * the workspace's own copy of the package, so tests can pass objects of another copy (another
 * version, as a user's program or a second library would load) to an adapter. The folder is kept
 * and reused by later runs with the same spec; `TENURE_NPM_COPIES_DIR` moves it.
 */
export async function installNpmCopy(spec: string, options: { timeoutMs?: number } = {}): Promise<NpmCopy> {
  const name = packageName(spec);
  const base = process.env.TENURE_NPM_COPIES_DIR ?? join(tmpdir(), "tenure-npm-copies");
  const dir = join(base, spec.replace(/[^a-zA-Z0-9.-]+/g, "_"));
  const manifest = join(dir, "node_modules", name, "package.json");
  if (!existsSync(join(dir, ".complete"))) {
    // Installed next to its final place and renamed: an interrupted install is never reused.
    const staging = `${dir}.installing-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    writeFileSync(join(staging, "package.json"), `${JSON.stringify({ private: true, type: "module" })}\n`);
    try {
      await run(
        "npm",
        [
          "install",
          "--no-audit",
          "--no-fund",
          "--ignore-scripts",
          "--no-package-lock",
          "--loglevel=error",
          spec,
        ],
        { cwd: staging, timeout: options.timeoutMs ?? 180_000, maxBuffer: 16 * 1024 * 1024 },
      );
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      const detail = error instanceof Error ? error.message : String(error);
      throw new Error(`npm could not install ${spec} into a folder of its own: ${detail}`);
    }
    writeFileSync(join(staging, ".complete"), `${spec}\n`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(base, { recursive: true });
    renameSync(staging, dir);
  }
  const installed = JSON.parse(readFileSync(manifest, "utf8")) as { version: string };
  // A module inside the copy's node_modules: Node resolves the imports it makes from there, and
  // vitest loads it natively (as any file under node_modules) rather than through its transform.
  const loader = join(dir, "node_modules", "tenure-copy-loader.mjs");
  if (!existsSync(loader)) {
    writeFileSync(loader, "export const load = (specifier) => import(specifier);\n");
  }
  return {
    name,
    version: installed.version,
    dir,
    async import<T>(subpath?: string): Promise<T> {
      // Resolved from the copy's folder, so the copy's own dependencies are the ones loaded.
      const specifier = subpath === undefined ? name : `${name}/${subpath}`;
      const { load } = (await import(pathToFileURL(loader).href)) as {
        load(specifier: string): Promise<unknown>;
      };
      return (await load(specifier)) as T;
    },
  };
}
