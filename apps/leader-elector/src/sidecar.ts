import type { Clock, LockStore, Logger } from "@tenure/core";
import { Elector } from "@tenure/core";
import { bindElectorMetrics } from "@tenure/prometheus";
import { collectDefaultMetrics, Registry } from "prom-client";
import { openStore } from "./backends.js";
import type { SidecarFlags } from "./flags.js";
import type { StatusServer } from "./status-server.js";
import { startStatusServer } from "./status-server.js";
import { exitStatus, Supervisor } from "./supervisor.js";

export interface Sidecar {
  readonly elector: Elector;
  /** Present when `--http` was given. */
  readonly server: StatusServer | undefined;
  /** Present in supervise mode (a command after `--`). */
  readonly supervisor: Supervisor | undefined;
  /**
   * Stops: first the supervised child, if one runs (the lock is still held and renewed meanwhile, so
   * no other replica's child can start), then campaigning (releasing the lock unless told not to),
   * then HTTP and the store. Resolves with the status the process should exit with: the child's (its
   * code, or 128 + the signal's number), or 0 when no child ran.
   */
  shutdown(options?: { release?: boolean }): Promise<number>;
  /**
   * Resolves with that status once the sidecar has shut down for any reason: `shutdown()`, or (in
   * supervise mode) a child that exited on its own while leading, after which the lock is released.
   */
  readonly finished: Promise<number>;
}

export interface SidecarDependencies {
  readonly logger: Logger;
  /** A store to use instead of the one the flags describe (the demo shares one memory server). */
  readonly store?: LockStore;
  readonly clock?: Clock;
}

/** Starts one replica: an elector, its metrics, and the HTTP status server if asked for. */
export async function startSidecar(flags: SidecarFlags, dependencies: SidecarDependencies): Promise<Sidecar> {
  const store = dependencies.store ?? (await openStore(flags, dependencies.logger));
  const elector = new Elector({
    store,
    name: flags.election,
    identity: flags.id,
    leaseDurationMs: flags.ttlMs,
    renewDeadlineMs: flags.renewDeadlineMs,
    retryPeriodMs: flags.retryPeriodMs,
    logger: dependencies.logger,
    ...(dependencies.clock === undefined ? {} : { clock: dependencies.clock }),
  });
  // The sidecar's own registry: the election's metrics and Node's process metrics.
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  bindElectorMetrics(elector, { registry });
  let server: StatusServer | undefined;
  try {
    server =
      flags.http === undefined
        ? undefined
        : await startStatusServer({
            elector,
            store,
            registry,
            host: flags.http.host,
            port: flags.http.port,
            logger: dependencies.logger,
            ...(dependencies.clock === undefined ? {} : { clock: dependencies.clock }),
          });
  } catch (error) {
    await store.close();
    throw error;
  }
  let shuttingDown: Promise<number> | undefined;
  let finish: (status: number) => void = () => {};
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  const shutdown = (options: { release?: boolean } = {}): Promise<number> => {
    shuttingDown ??= (async () => {
      const childExit = await supervisor?.stop();
      await elector.stop(options.release === undefined ? {} : { release: options.release });
      await server?.close();
      if (dependencies.store === undefined) await store.close();
      const status = childExit === undefined ? 0 : exitStatus(childExit);
      finish(status);
      return status;
    })();
    return shuttingDown;
  };
  const supervisor =
    flags.supervise === undefined
      ? undefined
      : new Supervisor(elector, {
          command: flags.supervise.command,
          killGraceMs: flags.supervise.killGraceMs,
          stopTimeoutMs: flags.supervise.stopTimeoutMs,
          logger: dependencies.logger,
          // As `consul lock` does: a child that ends on its own ends the sidecar, lock released first.
          onExitOnItsOwn: () => {
            dependencies.logger.info("releasing the lock and exiting with the child's status");
            void shutdown({ release: true });
          },
        });
  elector.start();
  return { elector, server, supervisor, shutdown, finished };
}
