import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Clock, CurrentLeader, Elector, LeaderObservation, LockStore, Logger } from "@tenure/core";
import { createHealthCheck, observe, systemClock } from "@tenure/core";
import type { Registry } from "prom-client";

export interface StatusServerOptions {
  readonly elector: Elector;
  /** The elector's store: `/events` follows the election on it with `observe()`, read-only. */
  readonly store: LockStore;
  /** What /metrics serves. */
  readonly registry: Registry;
  readonly host: string;
  readonly port: number;
  /** How late a leader's renewal may be before /healthz fails. Default: renewDeadline + 2 retry periods. */
  readonly healthGraceMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export interface StatusServer {
  /** Base URL, for example http://127.0.0.1:4040. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Header of every `GET /` answer: how many milliseconds the answer stays true, from the request. */
export const VALID_FOR_HEADER = "tenure-valid-for-ms";

/** Configuration errors that waiting will not fix: readiness fails while the last call ended so. */
const NOT_READY_CODES = new Set(["PERMISSION_DENIED", "INVALID_ARGUMENT"]);

/**
 * The sidecar's HTTP face. `GET /` answers `{"name":"<leader>"}` as the 2016 sidecar did (empty name
 * when no leader is known), so programs written against it keep working, plus how long the answer
 * stays true: only what holds now is said. A replica names itself only while its own term is valid,
 * another replica only while the lease it observed for it lasts, and nobody otherwise; `validForMs`
 * (and the `Tenure-Valid-For-Ms` header) bound the answer, counted from when the request was sent.
 */
export async function startStatusServer(options: StatusServerOptions): Promise<StatusServer> {
  const { elector, registry } = options;
  // Health: a replica that believes it leads but has not renewed for too long is stuck; restart it.
  const health = createHealthCheck(elector, {
    ...(options.healthGraceMs === undefined ? {} : { graceMs: options.healthGraceMs }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });

  const routes: Record<string, (response: ServerResponse) => void> = {
    "/": (response) => {
      const view = elector.currentLeader();
      response.setHeader(VALID_FOR_HEADER, String(Math.floor(view.remainingMs)));
      send(response, 200, "application/json", JSON.stringify(leaderAnswer(elector, view)));
    },
    "/healthz": (response) => {
      const { healthy, reason } = health();
      send(response, healthy ? 200 : 503, "text/plain", healthy ? "ok\n" : `unhealthy: ${reason}\n`);
    },
    "/readyz": (response) => {
      const status = elector.status();
      const error = status.lastStoreError;
      if (status.role === "stopped") {
        send(response, 503, "text/plain", "not ready: stopped\n");
      } else if (error !== null && NOT_READY_CODES.has(error.code)) {
        // A configuration that cannot work (a missing namespace, a denied permission): say so.
        send(response, 503, "text/plain", `not ready: ${error.code}: ${error.message}\n`);
      } else if (!status.hasObserved) {
        send(response, 503, "text/plain", "not ready: the store has not answered yet\n");
      } else {
        send(response, 200, "text/plain", "ok\n");
      }
    },
    "/metrics": (response) => {
      registry.metrics().then(
        (text) => send(response, 200, registry.contentType, text),
        (error: unknown) => send(response, 500, "text/plain", `metrics failed: ${String(error)}\n`),
      );
    },
    "/events": (response) =>
      streamLeaderChanges(response, elector, options.store, options.clock ?? systemClock, options.logger),
  };

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    const route = routes[path];
    if (request.method !== "GET" && request.method !== "HEAD") {
      send(response, 405, "text/plain", "only GET\n");
    } else if (route === undefined) {
      send(response, 404, "text/plain", "not found\n");
    } else {
      route(response);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const displayHost = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;
  const url = `http://${displayHost.includes(":") ? `[${displayHost}]` : displayHost}:${port}`;
  options.logger?.info(`serving http on ${options.host}:${port}`, { election: elector.name });
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** What `GET /` and each `/events` message carry: the 2016 `name`, and how long it holds. */
export interface LeaderAnswer {
  /** The leader, or `""` when no leader is known to be valid now. */
  readonly name: string;
  /** How long the answer stays true, in ms, counted from when the request was sent (0: no leader). */
  readonly validForMs: number;
  /** This replica's fencing token, present only while this replica leads. */
  readonly fencingToken?: number;
}

function leaderAnswer(elector: Elector, view: CurrentLeader): LeaderAnswer {
  const token = view.self ? elector.fencingToken() : null;
  return {
    name: view.identity ?? "",
    validForMs: Math.floor(view.remainingMs),
    ...(token === null ? {} : { fencingToken: token }),
  };
}

/** Longest interval between two `/events` messages, below common proxy idle timeouts. */
const STREAM_REFRESH_LIMIT_MS = 15_000;

/**
 * Server-sent events: `event: leader` with the `GET /` answer now, on every change of leader, and
 * again every retry period (renewals extend `validForMs` without changing the leader), so a program
 * can follow the leader without polling and always holds an answer with a bound.
 *
 * Changes come from `observe()` on the store, which names another replica only while it has seen
 * that replica write recently enough (see observe.ts) and says "no leader" as soon as a release or a
 * lapse shows. This replica's own leadership comes from its elector, which knows its term exactly.
 * Until the observer has seen a change, the elector's answer (as `GET /`) stands in.
 */
function streamLeaderChanges(
  response: ServerResponse,
  elector: Elector,
  store: LockStore,
  clock: Clock,
  logger: Logger | undefined,
): void {
  response.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-store",
    connection: "keep-alive",
  });
  const abort = new AbortController();
  let observed: LeaderObservation | undefined;
  const answer = (): LeaderAnswer => {
    const own = elector.currentLeader();
    if (own.self || observed === undefined) return leaderAnswer(elector, own);
    const nowMs = clock.now();
    const validUntilMs = observed.validUntilMs ?? nowMs;
    if (observed.leader === null || observed.leader === elector.identity || validUntilMs <= nowMs) {
      return { name: "", validForMs: 0 };
    }
    return { name: observed.leader, validForMs: Math.floor(validUntilMs - nowMs) };
  };
  const push = (): void => {
    if (!response.writableEnded) response.write(`event: leader\ndata: ${JSON.stringify(answer())}\n\n`);
  };
  push();
  const unsubscribe = elector.subscribe((event) => {
    if (event.type === "started-leading" || event.type === "stopped-leading") push();
    if (event.type === "stopped") response.end();
  });
  const refreshMs = Math.min(elector.timing.retryPeriodMs, STREAM_REFRESH_LIMIT_MS);
  const refresh = setInterval(push, refreshMs);
  // How long a write the observer saw vouches for its writer. The strict bound is renewDeadline less
  // the electors' operation timeout (a write they count was answered within it): at the timings the
  // sidecar derives from --ttl that equals the retry period, so another replica would be dropped
  // between any two renewals. The sidecar takes the renew deadline itself, which assumes a write
  // reaches the store in a small part of it; still shorter than the lease `GET /` goes by.
  const stream = observe(store, elector.name, {
    signal: abort.signal,
    clock,
    leaderValidityMs: elector.timing.renewDeadlineMs,
  });
  void (async () => {
    try {
      for await (const item of stream) {
        if (item.type === "error") {
          logger?.warn(`/events: reading the lock failed: ${item.error.message}`, { election: elector.name });
          continue;
        }
        // The first read names a holder but cannot vouch for it yet; the elector's answer stands.
        if (item.reason === "initial" && item.leader === null && item.holder !== null) continue;
        observed = item;
        push();
      }
    } catch (error) {
      logger?.error("/events: the observer failed", { election: elector.name, error });
    }
  })();
  response.on("close", () => {
    clearInterval(refresh);
    unsubscribe();
    abort.abort();
  });
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { "content-type": contentType, "cache-control": "no-store" });
  response.end(body);
}
