import type { Clock } from "./clock.js";
import { systemClock } from "./clock.js";
import type { Elector } from "./elector.js";

/** Options of {@link createHealthCheck}. */
export interface HealthCheckOptions {
  /**
   * How long a leader may go without a renewal before the check fails. Default: renew deadline plus
   * two retry periods. A leader that cannot renew steps down by its renew deadline on its own, so
   * only an elector that is stuck (its timers not running) stays leader longer.
   */
  readonly graceMs?: number;
  /** The elector's clock, when it was given one. Default `systemClock`. */
  readonly clock?: Clock;
}

/** What a health check answers. */
export interface HealthReport {
  readonly healthy: boolean;
  /** Why, in a few words, for the response body and the logs. */
  readonly reason: string;
}

/**
 * A liveness check for an HTTP server (a Kubernetes `livenessProbe`), in the spirit of client-go's
 * HealthzAdaptor: it fails only when this candidate has been leading without a renewal for longer
 * than `graceMs`, which means the elector is stuck and the process should be restarted. Followers
 * and candidates waiting for the store are healthy: a broken store is not fixed by restarting.
 *
 * ```ts
 * const health = createHealthCheck(elector);
 * http.createServer((request, response) => {
 *   const { healthy, reason } = health();
 *   response.writeHead(healthy ? 200 : 503).end(`${reason}\n`);
 * });
 * ```
 */
export function createHealthCheck(elector: Elector, options: HealthCheckOptions = {}): () => HealthReport {
  const { renewDeadlineMs, retryPeriodMs } = elector.timing;
  const graceMs = options.graceMs ?? renewDeadlineMs + 2 * retryPeriodMs;
  const clock = options.clock ?? systemClock;
  let lastLeaderProgressMs: number | null = null;
  let stopped = false;
  elector.subscribe((event) => {
    if (event.type === "started-leading" || event.type === "renewed") lastLeaderProgressMs = event.atMs;
    if (event.type === "stopped-leading") lastLeaderProgressMs = null;
    if (event.type === "stopped") stopped = true;
  });
  return () => {
    if (stopped) return { healthy: true, reason: "stopped" };
    if (lastLeaderProgressMs === null) return { healthy: true, reason: "ok" };
    // Reading leadership also applies a deadline that passed unnoticed, so a leader past its
    // deadline steps down here and is healthy again; only a stuck one stays.
    elector.isLeader();
    const silentMs = lastLeaderProgressMs === null ? 0 : clock.now() - lastLeaderProgressMs;
    return silentMs > graceMs
      ? { healthy: false, reason: `leading without a renewal for ${Math.round(silentMs)} ms` }
      : { healthy: true, reason: "ok" };
  };
}
