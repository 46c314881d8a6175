import { homedir } from "node:os";
import { join, resolve } from "node:path";
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
}

/** The layout under `stateDir`: `servers.json`, `data/<server>/`, `logs/<name>.log`. */
export function stateLayout(stateDir: string = defaultStateDir): StateLayout {
  const dir = resolve(stateDir);
  return {
    stateDir: dir,
    serversFile: join(dir, "servers.json"),
    dataDir: join(dir, "data"),
    logDir: join(dir, "logs"),
  };
}
