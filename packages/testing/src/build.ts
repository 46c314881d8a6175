import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ServerSetupError } from "./errors.ts";
import { binaryCacheDir, goModuleDir } from "./paths.ts";
import { describeResult, runCommand } from "./process.ts";
import { findExecutable } from "./system.ts";
import { type GoBinaryName, type GoBinarySpec, goBinaries, minimumGoVersion } from "./versions.ts";

/** A cold build of kube-apiserver takes several minutes on two cores; this bounds any one build. */
const buildTimeoutMs = 45 * 60_000;

const goTarballBinary = "/usr/local/go/bin/go";

/** Where the cached binary for `spec` lives: `<cache>/bin/<name>-<version>`. */
export function cachedBinaryPath(spec: GoBinarySpec, env: NodeJS.ProcessEnv = process.env): string {
  return join(binaryCacheDir(env), `${spec.binary}-${spec.version}`);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Throws unless the wrapper module's go.mod requires exactly the version the manifest pins. */
function checkWrapperPin(server: string, spec: GoBinarySpec): void {
  const goMod = join(goModuleDir(spec.module), "go.mod");
  const text = readFileSync(goMod, "utf8");
  const pin = new RegExp(
    `^\\s*(require\\s+)?${escapeRegExp(spec.pinnedModule)}\\s+${escapeRegExp(spec.pinnedModuleVersion)}(\\s|$)`,
    "m",
  );
  if (!pin.test(text)) {
    throw new ServerSetupError(
      server,
      "version check",
      `${goMod} does not require ${spec.pinnedModule} ${spec.pinnedModuleVersion} as src/versions.ts pins; update both together`,
    );
  }
}

/** Options for {@link ensureGoBinary}. */
export interface EnsureBinaryOptions {
  /** The server this binary is for, named in errors. */
  readonly server: string;
  readonly logDir: string;
  /** Called before a build starts (builds can take minutes). */
  readonly onBuild?: (message: string) => void;
}

/** Whether the process that wrote a lock file still runs. */
function lockOwnerAlive(lockFile: string): boolean {
  try {
    const owner = Number(readFileSync(lockFile, "utf8").trim());
    if (!Number.isInteger(owner) || owner <= 0) return false;
    process.kill(owner, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Takes the build lock of `target` (a file created exclusively, holding our pid), waiting while
 * another live process holds it, e.g. a second test project starting at the same time. A lock
 * whose owner died is taken over. Resolves with the function that releases it.
 */
async function lockBuild(target: string, server: string): Promise<() => void> {
  const lockFile = `${target}.lock`;
  const deadline = Date.now() + buildTimeoutMs;
  for (;;) {
    try {
      writeFileSync(lockFile, `${process.pid}\n`, { flag: "wx" });
      return () => rmSync(lockFile, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    if (!lockOwnerAlive(lockFile)) {
      rmSync(lockFile, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new ServerSetupError(
        server,
        `wait for the build lock ${lockFile}`,
        "another build held it too long",
      );
    }
    await sleep(1_000);
  }
}

/**
 * Returns the path of the cached binary, building it from its wrapper Go module first when the
 * cache lacks it (CGO_ENABLED=0, version stamped with -ldflags -X). One process builds a given
 * binary at a time; the binary is written to a temporary name and renamed, so an interrupted
 * build never leaves a broken cache entry.
 */
export async function ensureGoBinary(name: GoBinaryName, options: EnsureBinaryOptions): Promise<string> {
  const spec: GoBinarySpec = goBinaries[name];
  const target = cachedBinaryPath(spec);
  if (isExecutable(target)) return target;
  mkdirSync(binaryCacheDir(), { recursive: true });
  const unlock = await lockBuild(target, options.server);
  try {
    if (isExecutable(target)) return target;
    return await buildGoBinary(spec, target, options);
  } finally {
    unlock();
  }
}

async function buildGoBinary(
  spec: GoBinarySpec,
  target: string,
  options: EnsureBinaryOptions,
): Promise<string> {
  checkWrapperPin(options.server, spec);
  const logFile = join(options.logDir, `build-${spec.binary}-${spec.version}.log`);
  // The Go tarball's default location is checked too: a non-login shell (CI) may not have it on PATH.
  const go = findExecutable("go") ?? (isExecutable(goTarballBinary) ? goTarballBinary : undefined);
  if (go === undefined) {
    throw new ServerSetupError(
      options.server,
      `build ${spec.binary} ${spec.version}`,
      `the Go toolchain (\`go\`, ${minimumGoVersion} or later) is not on PATH`,
    );
  }
  const temporary = `${target}.partial-${process.pid}`;
  const linkerFlags = [
    "-s",
    "-w",
    ...Object.entries(spec.linkerVariables).map(([variable, value]) => `-X ${variable}=${value}`),
  ].join(" ");
  options.onBuild?.(`building ${spec.binary} ${spec.version} (log: ${logFile})`);
  const startedAt = Date.now();
  const args = ["build", "-trimpath", "-ldflags", linkerFlags, "-o", temporary, spec.mainPackage];
  const result = await runCommand(go, args, {
    cwd: goModuleDir(spec.module),
    env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=readonly -buildvcs=false" },
    logFile,
    timeoutMs: buildTimeoutMs,
  });
  if (result.exitCode !== 0 || !existsSync(temporary)) {
    rmSync(temporary, { force: true });
    throw new ServerSetupError(
      options.server,
      `build ${spec.binary} ${spec.version} (go ${args.join(" ")})`,
      describeResult(result, buildTimeoutMs),
      logFile,
    );
  }
  renameSync(temporary, target);
  options.onBuild?.(`built ${target} in ${Math.round((Date.now() - startedAt) / 1000)} s`);
  return target;
}
