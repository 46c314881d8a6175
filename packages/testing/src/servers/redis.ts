import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { messageOf, ServerSetupError } from "../errors.ts";
import { launchInOrder, type StartContext } from "../launch.ts";
import { freePorts, loopback } from "../ports.ts";
import type { RedisServer } from "../state.ts";
import { ensureDebianPackage } from "../system.ts";
import { redisPackage } from "../versions.ts";

/** Installs Debian's redis-server when it is missing; resolves with its path. */
export function installRedis(context: StartContext): Promise<string> {
  return ensureDebianPackage({
    server: "redis",
    binary: redisPackage.binary,
    debianPackage: redisPackage.debianPackage,
    logFile: join(context.layout.logDir, "install-redis-server.log"),
    onInstall: context.log,
  });
}

/** The version `redis-server --version` reports, checked against the major version the manifest expects. */
function redisVersion(binary: string): string {
  let output: string;
  try {
    output = execFileSync(binary, ["--version"], { encoding: "utf8", timeout: 10_000 });
  } catch (error) {
    throw new ServerSetupError("redis", `${binary} --version`, messageOf(error));
  }
  const version = /v=(\d+\.\d+\.\d+)/.exec(output)?.[1];
  if (version === undefined || Number(version.split(".")[0]) < redisPackage.major) {
    throw new ServerSetupError(
      "redis",
      "version check",
      `${binary} reports "${output.trim()}"; need Redis ${redisPackage.major} or later`,
    );
  }
  return version;
}

/**
 * Starts redis-server on a free loopback port with its own data folder. Not durable by default
 * (no snapshots, no AOF: a restart loses every key); `context.durable` turns on
 * appendonly yes + appendfsync always so every acknowledged write survives a restart.
 */
export async function startRedis(context: StartContext, binary: string): Promise<RedisServer> {
  const version = redisVersion(binary);
  const [port] = await freePorts(1);
  const dataDir = join(context.layout.dataDir, "redis");
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const persistence = context.durable
    ? ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
    : ["--appendonly", "no", "--save", ""];
  const args = [
    "--bind",
    loopback,
    "--port",
    String(port),
    "--dir",
    dataDir,
    "--daemonize",
    "no",
    "--protected-mode",
    "yes",
    "--logfile",
    "",
    ...persistence,
  ];
  const processes = await launchInOrder("redis", [
    {
      label: "redis-server",
      binary,
      args,
      logFile: join(context.layout.logDir, "redis.log"),
      probe: { kind: "redis-ping", host: loopback, port: port ?? 0 },
      readyTimeoutMs: 15_000,
    },
  ]);
  return {
    name: "redis",
    version,
    external: false,
    pid: processes[0]?.pid ?? null,
    dataDir,
    processes,
    url: `redis://${loopback}:${port}`,
    durable: context.durable,
  };
}
