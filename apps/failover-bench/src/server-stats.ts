/** Reads each server's own operation counters (over loopback only). */
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { connect } from "node:net";
import {
  apiserverRequestCounts,
  etcdGrpcCounts,
  parseConsulMetrics,
  parseRedisCommandStats,
} from "./parsers.js";

export type OpKind = "read" | "write" | "other";

/** A window of server operations: counts per operation between two monotonic instants. */
export interface StatsWindow {
  readonly counts: Record<string, number>;
  readonly startNs: bigint;
  readonly endNs: bigint;
}

export interface StatsSource {
  /** Where the numbers come from, for the report. */
  readonly source: string;
  /** Counts operations over about `durationMs` from now (Consul: one full 10 s metrics interval). */
  window(durationMs: number): Promise<StatsWindow>;
  /** Whether an operation is a read, a write or something else (subscriptions, pings, watches). */
  classify(operation: string): OpKind;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A source whose counters only grow: snapshot, wait, snapshot, subtract. */
function counterSource(
  source: string,
  read: () => Promise<Record<string, number>>,
  classify: (operation: string) => OpKind,
): StatsSource {
  return {
    source,
    classify,
    async window(durationMs) {
      const before = await read();
      const startNs = process.hrtime.bigint();
      await sleep(durationMs);
      const endNs = process.hrtime.bigint();
      const after = await read();
      const counts: Record<string, number> = {};
      for (const [key, value] of Object.entries(after)) {
        const delta = value - (before[key] ?? 0);
        if (delta > 0) counts[key] = delta;
      }
      return { counts, startNs, endNs };
    },
  };
}

/** One RESP command over a fresh TCP connection; resolves with the bulk-string reply. */
export function redisCommand(url: string, args: readonly string[], timeoutMs = 5000): Promise<string> {
  const parsed = new URL(url);
  const payload = `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join("")}`;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: parsed.hostname, port: Number(parsed.port || 6379) });
    let buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis ${args[0]}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("connect", () => socket.write(payload));
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const header = buffer.indexOf("\r\n");
      if (header < 0) return;
      const first = buffer.subarray(0, header).toString();
      if (first.startsWith("-")) {
        clearTimeout(timer);
        socket.destroy();
        reject(new Error(`redis ${args[0]}: ${first.slice(1)}`));
      } else if (first.startsWith("$")) {
        const length = Number(first.slice(1));
        if (buffer.length >= header + 2 + length) {
          clearTimeout(timer);
          socket.destroy();
          resolve(buffer.subarray(header + 2, header + 2 + length).toString());
        }
      } else {
        clearTimeout(timer);
        socket.destroy();
        resolve(first.slice(1));
      }
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Commands a Tenure client sends itself (INFO is the bench's own). */
export const REDIS_CLIENT_COMMANDS =
  /^((evalsha|eval|fcall)(_ro)?|subscribe|unsubscribe|ping|script|hello|client|select)$/;

export function redisStats(url: string): StatsSource {
  return counterSource(
    "Redis INFO commandstats",
    async () => {
      const all = parseRedisCommandStats(await redisCommand(url, ["INFO", "commandstats"]));
      // Only what a client sends; the commands scripts run inside (hset, publish, …) are left out.
      return Object.fromEntries(
        Object.entries(all).filter(([command]) => REDIS_CLIENT_COMMANDS.test(command)),
      );
    },
    // Redis also counts the commands a script runs (hget, hset, publish, …): only the script
    // calls themselves are the client's operations.
    (command) =>
      /^(evalsha_ro|eval_ro|fcall_ro)$/.test(command)
        ? "read"
        : /^(evalsha|eval|fcall)$/.test(command)
          ? "write"
          : "other",
  );
}

async function fetchText(url: string, timeoutMs = 5000): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return response.text();
}

export function etcdStats(endpoint: string): StatsSource {
  return counterSource(
    "etcd /metrics grpc_server_handled_total",
    async () => etcdGrpcCounts(await fetchText(`${endpoint.replace(/\/$/, "")}/metrics`)),
    (method) => (method === "Range" ? "read" : method === "Txn" || method === "Put" ? "write" : "other"),
  );
}

/**
 * Consul's /v1/agent/metrics shows the last *finished* 10 s interval of its in-memory sink, so a
 * window is one whole interval that started after the call: it takes 10 to 20 s.
 */
export function consulStats(url: string): StatsSource {
  const read = async (): Promise<ReturnType<typeof parseConsulMetrics>> => {
    const response = await fetch(`${url.replace(/\/$/, "")}/v1/agent/metrics`, {
      signal: AbortSignal.timeout(5000),
    });
    if (!response.ok) throw new Error(`Consul metrics: ${response.status}`);
    return parseConsulMetrics(await response.json());
  };
  return {
    source: "Consul /v1/agent/metrics (one 10 s interval)",
    classify: (name) => {
      const kv = /^consul\.api\.http (GET|PUT|DELETE) v1_(kv|txn)/.exec(name);
      return kv === null ? "other" : kv[1] === "GET" ? "read" : "write";
    },
    async window() {
      const calledAtWall = Date.now();
      const calledAtNs = process.hrtime.bigint();
      for (let attempt = 0; attempt < 60; attempt++) {
        const interval = await read();
        if (interval.startMs >= calledAtWall) {
          const startNs = calledAtNs + BigInt(Math.round((interval.startMs - calledAtWall) * 1e6));
          const counts: Record<string, number> = {};
          for (const [name, count] of Object.entries(interval.counts)) {
            if (/^consul\.api\.http [A-Z]+ v1_(kv|txn)/.test(name) || name === "consul.kvs.apply")
              counts[name] = count;
          }
          return { counts, startNs, endNs: startNs + 10_000_000_000n };
        }
        await sleep(500);
      }
      throw new Error("Consul metrics: no new interval within 30 s");
    },
  };
}

interface KubeconfigTls {
  readonly server: string;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly token?: string;
}

/** Reads the current context's server and credentials from a kubeconfig written as JSON (the harness's). */
export function readKubeconfig(path: string): KubeconfigTls {
  const config = JSON.parse(readFileSync(path, "utf8")) as {
    "current-context"?: string;
    contexts?: { name: string; context: { cluster: string; user: string } }[];
    clusters?: { name: string; cluster: Record<string, string> }[];
    users?: { name: string; user: Record<string, string> }[];
  };
  const context =
    config.contexts?.find((entry) => entry.name === config["current-context"]) ?? config.contexts?.[0];
  const cluster = config.clusters?.find((entry) => entry.name === context?.context.cluster)?.cluster ?? {};
  const user = config.users?.find((entry) => entry.name === context?.context.user)?.user ?? {};
  const file = (pathKey: string, dataKey: string, from: Record<string, string>): Buffer | undefined => {
    const data = from[dataKey];
    if (data !== undefined) return Buffer.from(data, "base64");
    const filePath = from[pathKey];
    return filePath === undefined ? undefined : readFileSync(filePath);
  };
  const server = cluster.server;
  if (server === undefined) throw new Error(`${path}: no server in the current context`);
  const ca = file("certificate-authority", "certificate-authority-data", cluster);
  const cert = file("client-certificate", "client-certificate-data", user);
  const key = file("client-key", "client-key-data", user);
  return {
    server,
    ...(ca !== undefined ? { ca } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
    ...(user.token !== undefined ? { token: user.token } : {}),
  };
}

export function httpsGet(tls: KubeconfigTls, path: string, timeoutMs = 10_000): Promise<string> {
  const url = new URL(path, tls.server);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "GET",
        ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
        ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
        ...(tls.key !== undefined ? { key: tls.key } : {}),
        headers: tls.token !== undefined ? { authorization: `Bearer ${tls.token}` } : {},
        timeout: timeoutMs,
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          body += chunk;
        });
        response.on("end", () =>
          (response.statusCode ?? 0) < 300
            ? resolve(body)
            : reject(new Error(`GET ${path}: ${response.statusCode} ${body.slice(0, 200)}`)),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${path}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

export function apiserverStats(kubeconfig: string): StatsSource {
  const tls = readKubeconfig(kubeconfig);
  return counterSource(
    "kube-apiserver /metrics apiserver_request_total",
    async () => apiserverRequestCounts(await httpsGet(tls, "/metrics"), ["leases"]),
    (key) => {
      const verb = key.split(" ")[0] ?? "";
      return ["GET", "LIST"].includes(verb)
        ? "read"
        : ["PUT", "POST", "PATCH", "DELETE"].includes(verb)
          ? "write"
          : "other";
    },
  );
}
