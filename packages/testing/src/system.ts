import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { ServerSetupError } from "./errors.ts";
import { describeResult, runCommand } from "./process.ts";

/** Full path of `name` on PATH (plus the sbin folders Debian uses), or undefined. */
export function findExecutable(name: string): string | undefined {
  const folders = [...(process.env.PATH ?? "").split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const folder of folders) {
    if (folder === "") continue;
    const candidate = join(folder, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const aptTimeoutMs = 10 * 60_000;

/** Options for {@link ensureDebianPackage}. */
export interface DebianPackageOptions {
  readonly server: string;
  /** Executable the package provides. */
  readonly binary: string;
  readonly debianPackage: string;
  readonly logFile: string;
  readonly onInstall?: (message: string) => void;
}

/**
 * Returns the path of `binary`, installing its Debian package with apt-get first when it is
 * missing (and running `apt-get update` once if the first install fails, e.g. for a missing
 * package list). Throws a {@link ServerSetupError} naming the apt step and its log otherwise.
 */
export async function ensureDebianPackage(options: DebianPackageOptions): Promise<string> {
  const existing = findExecutable(options.binary);
  if (existing !== undefined) return existing;
  const aptGet = findExecutable("apt-get");
  const step = `install Debian package ${options.debianPackage}`;
  if (aptGet === undefined) {
    throw new ServerSetupError(
      options.server,
      step,
      `${options.binary} is missing and apt-get is not available`,
    );
  }
  if (process.getuid?.() !== 0) {
    throw new ServerSetupError(
      options.server,
      step,
      `${options.binary} is missing; run \`sudo apt-get install -y ${options.debianPackage}\` (installing needs root)`,
    );
  }
  options.onInstall?.(`installing ${options.debianPackage} with apt-get (log: ${options.logFile})`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () =>
    runCommand(aptGet, ["install", "-y", "--no-install-recommends", options.debianPackage], {
      env,
      logFile: options.logFile,
      timeoutMs: aptTimeoutMs,
    });
  let result = await install();
  if (result.exitCode !== 0) {
    const update = await runCommand(aptGet, ["update"], {
      env,
      logFile: options.logFile,
      timeoutMs: aptTimeoutMs,
    });
    if (update.exitCode !== 0) {
      throw new ServerSetupError(
        options.server,
        "apt-get update",
        describeResult(update, aptTimeoutMs),
        options.logFile,
      );
    }
    result = await install();
  }
  const installed = findExecutable(options.binary);
  if (result.exitCode !== 0 || installed === undefined) {
    throw new ServerSetupError(options.server, step, describeResult(result, aptTimeoutMs), options.logFile);
  }
  return installed;
}
