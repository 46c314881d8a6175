import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { messageOf, ServerSetupError } from "./errors.ts";
import { isRunning } from "./process.ts";

/** Client certificate files for probing a TLS endpoint that checks clients (kube-apiserver). */
export interface TlsFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** How to tell that a server is ready, stored with the server so a restart can reuse it. */
export type ReadinessProbe =
  | {
      readonly kind: "http";
      readonly url: string;
      /** The body must match this regular expression (source text). */
      readonly bodyPattern: string;
      readonly tls?: TlsFiles;
    }
  | { readonly kind: "redis-ping"; readonly host: string; readonly port: number };

const probeTimeoutMs = 2_000;

function httpGet(url: string, tls: TlsFiles | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const options = {
      timeout: probeTimeoutMs,
      ...(tls === undefined
        ? {}
        : { ca: readFileSync(tls.ca), cert: readFileSync(tls.cert), key: readFileSync(tls.key) }),
    };
    const request = (url.startsWith("https:") ? httpsRequest : httpRequest)(url, options, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        body += chunk;
      });
      response.on("end", () => resolvePromise({ status: response.statusCode ?? 0, body }));
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`no answer within ${probeTimeoutMs} ms`)));
    request.on("error", reject);
    request.end();
  });
}

function redisPing(host: string, port: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ host, port, timeout: probeTimeoutMs });
    let reply = "";
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk: string) => {
      reply += chunk;
      if (reply.includes("\r\n")) {
        socket.destroy();
        resolvePromise(reply.trim());
      }
    });
    socket.on("timeout", () => socket.destroy(new Error(`no answer within ${probeTimeoutMs} ms`)));
    socket.on("error", reject);
  });
}

/** Runs a probe once; resolves with why it is not ready, or undefined when it is. */
export async function probeOnce(probe: ReadinessProbe): Promise<string | undefined> {
  try {
    if (probe.kind === "redis-ping") {
      const reply = await redisPing(probe.host, probe.port);
      return reply === "+PONG" ? undefined : `PING answered ${reply}`;
    }
    const { status, body } = await httpGet(probe.url, probe.tls);
    if (status !== 200) return `GET ${probe.url} answered ${status}: ${body.slice(0, 200)}`;
    if (!new RegExp(probe.bodyPattern).test(body)) return `GET ${probe.url} answered ${body.slice(0, 200)}`;
    return undefined;
  } catch (error) {
    return messageOf(error);
  }
}

/** What {@link waitUntilReady} watches. */
export interface ReadinessTarget {
  readonly server: string;
  readonly pid: number;
  readonly binary: string;
  readonly logFile: string;
  readonly probe: ReadinessProbe;
  readonly timeoutMs: number;
}

/**
 * Polls the probe until it passes. Throws a {@link ServerSetupError} naming the log file when the
 * process exits first or the timeout passes; never waits longer than `timeoutMs`.
 */
export async function waitUntilReady(target: ReadinessTarget): Promise<void> {
  const deadline = Date.now() + target.timeoutMs;
  let reason = "not probed yet";
  for (;;) {
    if (!isRunning(target.pid, target.binary)) {
      throw new ServerSetupError(
        target.server,
        "start",
        `process ${target.pid} exited before it was ready`,
        target.logFile,
      );
    }
    const notReady = await probeOnce(target.probe);
    if (notReady === undefined) return;
    reason = notReady;
    if (Date.now() >= deadline) break;
    await sleep(200);
  }
  throw new ServerSetupError(
    target.server,
    "readiness check",
    `not ready within ${Math.round(target.timeoutMs / 1000)} s (last answer: ${reason})`,
    target.logFile,
  );
}
