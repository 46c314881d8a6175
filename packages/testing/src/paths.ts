import { rmSync } from "node:fs";
import { homedir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Folder of the @tenure/testing package (holds the Go wrapper modules). */
export const packageDir: string = resolve(fileURLToPath(new URL("..", import.meta.url)));

/** Root of the repository (the npm workspaces root). */
export const repoRoot: string = resolve(packageDir, "..", "..");

/** Default folder for the state of servers started by the CLI: `<repo>/.tenure` (gitignored). */
export const defaultStateDir: string = join(repoRoot, ".tenure");

/** Folder of the Go wrapper module named `module` (e.g. "kubernetes"). */
export function goModuleDir(module: string): string {
  return join(packageDir, "go", module);
}

/**
 * Where built binaries are cached, outside git, shared by every clone on this machine:
 * `${TENURE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tenure}/bin`.
 */
export function binaryCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.TENURE_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "tenure");
  return join(base, "bin");
}

/** Layout of one state folder: the servers file, data folders and log files. */
export interface StateLayout {
  readonly stateDir: string;
  readonly serversFile: string;
  readonly dataDir: string;
  readonly logDir: string;
  /** One record per cluster (`clusters/<name>.json`), kept apart from servers.json. */
  readonly clustersDir: string;
}

/**
 * The layout under `stateDir`: `servers.json`, `data/<server>/`, `logs/<name>.log`, and for
 * clusters `clusters/<cluster>.json`, `data/<cluster>/<member>/`, `logs/<cluster>/<member>.log`.
 */
export function stateLayout(stateDir: string = defaultStateDir): StateLayout {
  const dir = resolve(stateDir);
  return {
    stateDir: dir,
    serversFile: join(dir, "servers.json"),
    dataDir: join(dir, "data"),
    logDir: join(dir, "logs"),
    clustersDir: join(dir, "clusters"),
  };
}

/** Removes a data folder, refusing any folder outside the state folder's data/. */
export function removeDataDir(layout: StateLayout, dataDir: string | null): void {
  if (dataDir === null) return;
  const inside = relative(layout.dataDir, dataDir);
  if (inside === "" || inside.startsWith(".."))
    throw new Error(`refusing to remove ${dataDir}: not under ${layout.dataDir}`);
  rmSync(dataDir, { recursive: true, force: true });
}
