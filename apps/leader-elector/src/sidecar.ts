import type { Clock, LockStore, Logger } from "@tenure/core";
import { Elector } from "@tenure/core";
import { openStore } from "./backends.js";
import type { SidecarFlags } from "./flags.js";
import { ElectionMetrics } from "./metrics.js";
import type { StatusServer } from "./status-server.js";
import { startStatusServer } from "./status-server.js";

export interface Sidecar {
  readonly elector: Elector;
  /** Present when `--http` was given. */
  readonly server: StatusServer | undefined;
  /** Stops campaigning (releasing the lock unless told not to), then closes HTTP and the store. */
  shutdown(options?: { release?: boolean }): Promise<void>;
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
  const metrics = new ElectionMetrics(elector);
  let server: StatusServer | undefined;
  try {
    server =
      flags.http === undefined
        ? undefined
        : await startStatusServer({
            elector,
            metrics,
            host: flags.http.host,
            port: flags.http.port,
            logger: dependencies.logger,
            ...(dependencies.clock === undefined ? {} : { clock: dependencies.clock }),
          });
  } catch (error) {
    await store.close();
    throw error;
  }
  elector.start();
  let shuttingDown: Promise<void> | undefined;
  return {
    elector,
    server,
    shutdown(options = {}) {
      shuttingDown ??= (async () => {
        await elector.stop(options.release === undefined ? {} : { release: options.release });
        await server?.close();
        if (dependencies.store === undefined) await store.close();
      })();
      return shuttingDown;
    },
  };
}
