#!/usr/bin/env node
import { createConsoleLogger, TenureError } from "@tenure/core";
import { runDemo } from "./demo.js";
import { parseFlags, USAGE } from "./flags.js";
import { startSidecar } from "./sidecar.js";

/** How long releasing the lock and closing may take on SIGTERM before the process exits anyway. */
const SHUTDOWN_LIMIT_MS = 15_000;

async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === "demo") return runDemo(argv.slice(1));
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(USAGE);
    return 0;
  }
  const flags = parseFlags(argv);
  const logger = createConsoleLogger({
    format: flags.logFormat,
    level: flags.logLevel,
    fields: { id: flags.id },
  });
  if (flags.useClusterCredentials) {
    logger.info(
      "--use-cluster-credentials is accepted for the 2016 sidecar's command lines and changes nothing: in a pod the service account is used already",
    );
  }
  const sidecar = await startSidecar(flags, { logger });
  logger.info(`campaigning in election "${flags.election}"`, {
    backend: flags.backend,
    ttlMs: flags.ttlMs,
    ...(flags.supervise === undefined ? {} : { supervise: flags.supervise.command.join(" ") }),
  });

  return new Promise<number>((resolve) => {
    // A supervised child that exits on its own ends the sidecar with its status.
    void sidecar.finished.then(resolve);
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info(
        flags.supervise === undefined
          ? `${signal}: releasing the lock and exiting`
          : `${signal}: stopping the child, then releasing the lock and exiting with the child's status`,
      );
      // The child's stop timeout comes first; the release and closing get their own limit after it.
      const limitMs = SHUTDOWN_LIMIT_MS + (flags.supervise?.stopTimeoutMs ?? 0);
      const limit = setTimeout(() => {
        logger.error(`shutdown took longer than ${limitMs} ms; exiting anyway`);
        resolve(1);
      }, limitMs);
      limit.unref();
      sidecar.shutdown({ release: true }).then(resolve, (error: unknown) => {
        logger.error("shutdown failed", { error });
        resolve(1);
      });
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    // One clear line for bad input; the stack only for surprises.
    if (TenureError.is(error) && error.code === "INVALID_ARGUMENT") {
      process.stderr.write(`leader-elector: ${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(
      `leader-elector: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
