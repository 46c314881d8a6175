import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Clock, Elector, Logger } from "@tenure/core";
import { systemClock } from "@tenure/core";
import type { ElectionMetrics } from "./metrics.js";

export interface StatusServerOptions {
  readonly elector: Elector;
  readonly metrics: ElectionMetrics;
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

/**
 * The sidecar's HTTP face. `GET /` answers `{"name":"<leader>"}` exactly as the 2016 sidecar did
 * (empty name when unknown), so programs written against it keep working.
 */
export async function startStatusServer(options: StatusServerOptions): Promise<StatusServer> {
  const { elector, metrics } = options;
  const clock = options.clock ?? systemClock;
  const graceMs = options.healthGraceMs ?? elector.timing.renewDeadlineMs + 2 * elector.timing.retryPeriodMs;
  // Health: a replica that believes it leads but has not renewed for too long is stuck; restart it.
  let leadingSinceRenewalAtMs: number | null = null;
  elector.subscribe((event) => {
    if (event.type === "started-leading" || event.type === "renewed") leadingSinceRenewalAtMs = event.atMs;
    if (event.type === "stopped-leading") leadingSinceRenewalAtMs = null;
  });

  const routes: Record<string, (response: ServerResponse) => void> = {
    "/": (response) =>
      send(response, 200, "application/json", JSON.stringify({ name: elector.leader() ?? "" })),
    "/healthz": (response) => {
      const silentForMs = leadingSinceRenewalAtMs === null ? 0 : clock.now() - leadingSinceRenewalAtMs;
      if (silentForMs > graceMs) {
        send(
          response,
          503,
          "text/plain",
          `unhealthy: leading without a renewal for ${Math.round(silentForMs)} ms\n`,
        );
      } else {
        send(response, 200, "text/plain", "ok\n");
      }
    },
    "/readyz": (response) => {
      const status = elector.status();
      if (status.role === "stopped" || !status.hasObserved) {
        send(response, 503, "text/plain", "not ready: the store has not answered yet\n");
      } else {
        send(response, 200, "text/plain", "ok\n");
      }
    },
    "/metrics": (response) => send(response, 200, "text/plain; version=0.0.4", metrics.render()),
    "/events": (response) => streamLeaderChanges(response, elector),
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

/** Keep-alive comment interval for the event stream, below common proxy idle timeouts. */
const STREAM_KEEPALIVE_MS = 15_000;

/**
 * Server-sent events: `event: leader` with `{"name":"<leader>"}` now and on every change, so a
 * program can follow the leader without polling `GET /`.
 */
function streamLeaderChanges(response: ServerResponse, elector: Elector): void {
  response.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-store",
    connection: "keep-alive",
  });
  const push = (leader: string | null): void => {
    response.write(`event: leader\ndata: ${JSON.stringify({ name: leader ?? "" })}\n\n`);
  };
  push(elector.leader());
  const unsubscribe = elector.subscribe((event) => {
    if (event.type === "leader-changed") push(event.leader);
    if (event.type === "stopped") response.end();
  });
  const keepalive = setInterval(() => response.write(": keepalive\n\n"), STREAM_KEEPALIVE_MS);
  response.on("close", () => {
    clearInterval(keepalive);
    unsubscribe();
  });
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { "content-type": contentType, "cache-control": "no-store" });
  response.end(body);
}
